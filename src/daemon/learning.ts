// IP address learning in the daemon: bindings whose filter references $IP/$IPV6 without a value
// get the learning-phase policy until the LearningManager reports addresses, then their filter
// with the learned addresses. Learned state is saved on every change (atomically) so a restarted
// daemon keeps every lock and lease; an unbind forgets it. Ports on virtwall's own networks learn
// from their dnsmasq's lease records; other ports from their traffic (tcpdump).
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { FilterBinding } from '../nwfilter/binding.js';
import type { FilterSource } from '../nwfilter/source.js';
import { observeTraffic } from '../learning/capture.js';
import { learningJson, learningXml, type LearningJson } from '../learning/format.js';
import type { LearnerState } from '../learning/learner.js';
import { watchLeases, type LeaseWatch } from '../learning/lease-watch.js';
import { LearningManager, type LearningManagerOptions } from '../learning/manager.js';
import { dropAllPolicy } from '../learning/policy.js';
import { learningPortOf, portFilterFor, type PortPlan } from '../learning/port-filter.js';
import { loadLearning, saveLearning } from '../learning/state-file.js';

export interface PortLearningOptions {
  /** DIR/var/lib/virtwall/ip-learning.json */
  stateFile: string;
  /** The network driver's state directory (its dnsmasq lease records). */
  leaseDir: string;
  /** Called when a port's learned addresses changed: re-apply its filter. */
  onChange(port: string): void;
  log: Logger;
}

/** tcpdump's words when the device it listens on is deleted. */
const DEVICE_GONE = /The interface disappeared|No such device exists/;

export class PortLearning {
  private readonly manager: LearningManager;
  /** While fromJSON() replays the saved state: its callbacks need no saving. */
  private restoring = true;
  private readonly failed = new Set<string>();
  private readonly leaseWatches = new Map<string, LeaseWatch>();
  /** Callbacks during start-up restore are not forwarded: the start-up reconcile applies all. */
  private live = false;
  /** What guests moving here learned on another fleet host, by owner UUID and MAC (src/fleet). */
  private readonly arriving = new Map<string, LearnerState>();
  /** Told each change of a port's learned addresses (the fleet publishes them per guest). */
  onLearned?: (port: string, state: LearnerState) => void;

  constructor(private readonly opts: PortLearningOptions) {
    const managerOpts: LearningManagerOptions = {
      onAddressesChanged: (port, change) => {
        if (this.restoring) return;
        this.save();
        opts.log.info({ port, ...change }, 'learned addresses changed');
        const learned = this.manager.learned(port);
        if (learned) this.onLearned?.(port, learned.state);
        if (this.live) opts.onChange(port);
      },
      onLearningFailed: (port, message) => {
        // libvirt's QEMU driver removes the tap before the binding when a guest stops: not a failure
        if (DEVICE_GONE.test(message)) opts.log.info({ port }, 'IP learning ended: the port device is gone');
        else opts.log.error({ port, message }, 'IP learning failed: port drops all traffic');
        this.failed.add(port);
        if (this.live) opts.onChange(port);
      },
      observe: (port, deliver, fail) => observeTraffic(port, deliver, { onError: (_, m) => fail(m) }),
      expiryTimer: true,
    };
    this.manager = existsSync(opts.stateFile)
      ? LearningManager.fromJSON(loadLearning(opts.stateFile), managerOpts)
      : new LearningManager(managerOpts);
    this.restoring = false;
  }

  /** Start-up is over: from now on learned changes re-apply filters at once. */
  start(): void {
    this.live = true;
  }

  private learned(port: string): { ipv4: string[]; ipv6: string[] } {
    const state = this.manager.learned(port)?.state;
    return { ipv4: state?.ipv4.map((a) => a.address) ?? [], ipv6: state?.ipv6.map((a) => a.address) ?? [] };
  }

  /**
   * The port's plan given what is learned (a query): its filter, and what it still has to learn.
   * A port whose learning failed drops everything.
   */
  plan(binding: FilterBinding, source: FilterSource): PortPlan {
    if (this.hasFailed(binding.portdev)) return { filter: dropAllPolicy(binding.portdev, binding.mac) };
    return portFilterFor(binding, source, this.learned(binding.portdev));
  }

  /** What the port's plan depends on besides its binding and the filters: equal answers, equal plans. */
  planInputs(port: string): string {
    return this.hasFailed(port) ? 'failed' : JSON.stringify(this.learned(port));
  }

  /** The port's learning failed: it drops all traffic until it is bound again (or the daemon restarts). */
  hasFailed(port: string): boolean {
    return this.failed.has(port);
  }

  /**
   * Starts learning what a plan still needs, unless the port learns already (a command: starts
   * tcpdump or the lease watch, saves the state). `bridge`: the port sits on this virtwall
   * network's bridge. True when the guest brought learned addresses (inherit): plan again.
   */
  learn(
    binding: FilterBinding & { owner?: { uuid: string } },
    needs: NonNullable<PortPlan['learning']>,
    bridge?: string,
  ): boolean {
    if (this.manager.has(binding.portdev)) return false;
    const guest = binding.owner && `${binding.owner.uuid}/${binding.mac}`;
    const inherited = guest === undefined ? undefined : this.arriving.get(guest);
    if (guest !== undefined) this.arriving.delete(guest);
    this.manager.watch(learningPortOf(binding, needs, bridge), inherited);
    if (bridge !== undefined && !this.leaseWatches.has(bridge)) {
      this.leaseWatches.set(
        bridge,
        watchLeases(this.opts.leaseDir, bridge, this.manager, (err) =>
          this.opts.log.error({ bridge, err: String(err) }, 'lease watch failed'),
        ),
      );
    }
    this.save();
    return inherited !== undefined;
  }

  /** The guest (owner UUID, MAC) arrives with what its port learned on another fleet host. */
  inherit(owner: string, mac: string, state: LearnerState): void {
    this.arriving.set(`${owner}/${mac}`, state);
  }

  /** Unbind: everything learned on the port is forgotten. */
  forget(port: string): void {
    this.failed.delete(port);
    if (!this.manager.has(port)) return;
    this.manager.forget(port);
    this.save();
  }

  /** `nwfilter-binding-learning`: the learned addresses and how they were learned. */
  xml(port: string, depth = 1): string {
    const l = this.manager.learned(port);
    return l ? learningXml(l.config, l.state, depth) : '';
  }

  json(port: string): LearningJson | undefined {
    const l = this.manager.learned(port);
    return l && learningJson(l.config, l.state);
  }

  /** Where a port's IP learning stands (metrics, dashboard): none for a port that needs none. */
  stateOf(port: string): 'learning' | 'learned' | 'failed' | undefined {
    if (this.failed.has(port)) return 'failed';
    const j = this.json(port);
    return j && (j.learning ? 'learning' : 'learned');
  }

  private save(): void {
    saveLearning(this.opts.stateFile, this.manager.toJSON());
  }

  close(): void {
    this.manager.close();
    for (const w of this.leaseWatches.values()) w.close();
  }
}

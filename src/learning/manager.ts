// IP address learning for all bound ports that need it. The daemon registers a port when its
// binding references $IP/$IPV6 without a value (see port-filter.ts), feeds it what the port's
// mechanism sees, and is called back with the port's complete address lists whenever they
// change - then it re-runs portFilterFor() and backend.apply(). Learned state is plain data
// (toJSON/fromJSON) so a restarted daemon keeps every lock and lease; forget() drops it.
//
// Mechanisms (who feeds a port):
// - 'dnsmasq-leases': ports on virtwall's own networks. Our dnsmasq already reports every lease
//   to the lease hook (src/network/lifecycle/lease-hook.ts); lease-watch.ts follows the
//   bridge's lease records and hands them to applyLeases(). No packet capture.
// - 'traffic': ports on any other bridge. capture.ts runs tcpdump on the port (two processes,
//   one per direction, as libvirt's two pcap handles) and hands frames to observeFrame(). It was
//   chosen over kernel-side nftables sets / NFLOG because it needs neither conntrack on the
//   bridge (absent here) nor rules of ours in a table a backend owns, and it sees frames a
//   filter drops, which `any` mode must see to learn.
import { parseFrame } from './frames.js';
import {
  PortLearner,
  type Family,
  type LearnedAddress,
  type LearnerConfig,
  type LearnerState,
  type LearnSource,
  type LeaseView,
} from './learner.js';

export type LearningMechanism = 'dnsmasq-leases' | 'traffic';

export interface LearningPort extends LearnerConfig {
  /** The port device (portdev), the key of everything here. */
  port: string;
  mechanism: LearningMechanism;
  /** Bridge of the network whose dnsmasq leases feed the port ('dnsmasq-leases'). */
  bridge?: string;
  /** Families the bound filter references without a value. */
  needs: { ipv4: boolean; ipv6: boolean };
}

export interface AddressesChanged {
  ipv4: string[];
  ipv6: string[];
  /** What caused the change: how the newest address was learned, or `expired`/`released`. */
  source: LearnSource | 'expired' | 'released' | 'restored';
}

/** A running observer of a port's traffic (capture.ts); stopped on forget(). */
export interface PortObserver {
  stop(): void;
  /** Settles once the observer sees traffic (tests wait for it before the guest talks). */
  ready?: Promise<void>;
}

export interface LearningManagerOptions {
  onAddressesChanged(port: string, change: AddressesChanged): void;
  /**
   * Starts the 'traffic' mechanism for a port; frames go to `deliver`, and `fail` says the
   * observer died (then onLearningFailed is called).
   */
  observe?(
    port: LearningPort,
    deliver: (frame: Uint8Array, fromGuest: boolean) => void,
    fail: (message: string) => void,
  ): PortObserver;
  /**
   * Learning on the port cannot go on (its observer died). libvirt then puts drop-all rules
   * on the port (policy.ts dropAllPolicy) so an unlearnable port is never left open.
   */
  onLearningFailed?(port: string, message: string): void;
  /** Seconds since the epoch (tests pass a clock). */
  now?(): number;
  /** Runs expiry on a timer (the daemon); tests call expire() themselves. */
  expiryTimer?: boolean;
}

export interface SavedLearning {
  version: 1;
  ports: { config: LearningPort; state: LearnerState }[];
}

interface Entry {
  config: LearningPort;
  learner: PortLearner;
  observer?: PortObserver;
}

export class LearningManager {
  private readonly ports = new Map<string, Entry>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: LearningManagerOptions) {}

  private now(): number {
    return this.opts.now?.() ?? Date.now() / 1000;
  }

  /** Starts learning on a port (again, with `restored` state after a restart). */
  watch(config: LearningPort, restored?: LearnerState): void {
    this.forget(config.port);
    const entry: Entry = { config, learner: new PortLearner(config, this.now(), restored) };
    this.ports.set(config.port, entry);
    if (config.mechanism === 'traffic' && this.opts.observe && !this.complete(entry)) {
      entry.observer = this.opts.observe(
        config,
        (frame, fromGuest) => this.observeFrame(config.port, frame, fromGuest),
        (message) => this.failed(entry, message),
      );
    }
    const learned = entry.learner.snapshot();
    if (learned.ipv4.length || learned.ipv6.length) this.report(entry, 'restored');
    this.schedule();
  }

  /** Unbind: stops observing and forgets everything learned on the port. */
  forget(port: string): void {
    const entry = this.ports.get(port);
    if (!entry) return;
    entry.observer?.stop();
    this.ports.delete(port);
    this.schedule();
  }

  has(port: string): boolean {
    return this.ports.has(port);
  }

  /** Settles when the port's observer (if any) is running. */
  async ready(port: string): Promise<void> {
    await this.ports.get(port)?.observer?.ready;
  }

  /** A frame seen on a 'traffic' port. */
  observeFrame(port: string, frame: Uint8Array, fromGuest: boolean): void {
    const entry = this.ports.get(port);
    const facts = entry && parseFrame(frame);
    if (!entry || !facts) return;
    const before = entry.learner.snapshot();
    if (!entry.learner.observe(facts, fromGuest, this.now())) return;
    this.report(entry, sourceOfChange(before, entry.learner.snapshot()));
    // `any` mode locks once: nothing left to watch for
    if (this.complete(entry)) {
      entry.observer?.stop();
      delete entry.observer;
    }
  }

  /** The current lease records of a virtwall network's bridge (from its dnsmasq). */
  applyLeases(bridge: string, records: readonly (LeaseView & { macAddress?: string })[]): void {
    const now = this.now();
    for (const entry of this.ports.values()) {
      if (entry.config.mechanism !== 'dnsmasq-leases' || entry.config.bridge !== bridge) continue;
      const before = entry.learner.snapshot();
      const mine = records.filter((r) => r.macAddress?.toLowerCase() === entry.config.mac);
      if (entry.learner.leases(mine, now)) this.report(entry, sourceOfChange(before, entry.learner.snapshot()));
    }
    this.schedule();
  }

  /** Removes expired leases everywhere; returns the next expiry time, if any. */
  expire(): number | undefined {
    const now = this.now();
    for (const entry of this.ports.values()) {
      if (entry.learner.expire(now)) this.report(entry, 'expired');
    }
    return this.nextExpiry();
  }

  /** What was learned on a port, for dumpxml / --json (format.ts). */
  learned(port: string): { config: LearningPort; state: LearnerState } | undefined {
    const entry = this.ports.get(port);
    return entry && { config: entry.config, state: entry.learner.snapshot() };
  }

  toJSON(): SavedLearning {
    return {
      version: 1,
      ports: [...this.ports.values()].map((e) => ({ config: e.config, state: e.learner.snapshot() })),
    };
  }

  /**
   * A manager continuing saved state: every port is watched again and reported with its
   * learned addresses (so the daemon re-applies their filters); expired leases go on the
   * first expire().
   */
  static fromJSON(saved: SavedLearning, opts: LearningManagerOptions): LearningManager {
    const m = new LearningManager(opts);
    for (const p of saved.ports) m.watch(p.config, p.state);
    return m;
  }

  /** Stops every observer and timer (daemon shutdown; state stays in toJSON()). */
  close(): void {
    for (const entry of this.ports.values()) entry.observer?.stop();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private failed(entry: Entry, message: string): void {
    if (this.ports.get(entry.config.port) !== entry || !entry.observer) return;
    entry.observer.stop();
    delete entry.observer;
    this.opts.onLearningFailed?.(entry.config.port, message);
  }

  private complete(entry: Entry): boolean {
    if (entry.config.mode !== 'any') return false;
    const has = (f: Family) => entry.learner.addresses(f).length > 0;
    return (!entry.config.needs.ipv4 || has('ipv4')) && (!entry.config.needs.ipv6 || has('ipv6'));
  }

  private report(entry: Entry, source: AddressesChanged['source']): void {
    this.opts.onAddressesChanged(entry.config.port, {
      ipv4: entry.learner.addresses('ipv4'),
      ipv6: entry.learner.addresses('ipv6'),
      source,
    });
    this.schedule();
  }

  private nextExpiry(): number | undefined {
    const times = [...this.ports.values()].flatMap((e) => e.learner.nextExpiry() ?? []);
    return times.length ? Math.min(...times) : undefined;
  }

  private schedule(): void {
    if (!this.opts.expiryTimer) return;
    clearTimeout(this.timer);
    const next = this.nextExpiry();
    if (next === undefined) return;
    this.timer = setTimeout(() => this.expire(), Math.max(0, (next - this.now()) * 1000) + 50);
    this.timer.unref();
  }
}

/** How the newest address in `after` was learned, or `released` when one only went away. */
function sourceOfChange(before: LearnerState, after: LearnerState): AddressesChanged['source'] {
  const known = new Set([...before.ipv4, ...before.ipv6].map((a) => a.address));
  const added: LearnedAddress | undefined = [...after.ipv4, ...after.ipv6].find((a) => !known.has(a.address));
  return added?.source ?? 'released';
}

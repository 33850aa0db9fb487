// Learned addresses follow the guest: what a port learned (IP learning) is published per guest,
// under PREFIX/learned/OWNER-UUID/MAC, and a binding for that guest on another host (a
// migration) starts with it instead of a new learning phase, in which a guest sending spoofed
// frames could have its first spoofed address locked in. The addresses end up in firewall
// rules: each is checked to be an address of its family before it is used.
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import * as z from '../util/zod.js';
import type { Daemon } from '../daemon/daemon.js';
import type { LearnerState } from '../learning/learner.js';
import { LearnedAddressSchema } from '../learning/state-file.js';
import type { FleetStore } from './store.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

const family = (version: 4 | 6) =>
  z.array(LearnedAddressSchema.check(z.refine((a) => isIP(a.address) === version, 'not an address of its family')));
const GuestLearnedSchema = z.strictObject({
  host: z.string(),
  state: z.strictObject({ ipv4: family(4), ipv6: family(6) }),
});

/**
 * How long a guest's record outlives its port here (seconds): long enough for a migration's
 * target to bind the guest's port, after which the record is the target's; then etcd drops it,
 * so the records of guests gone for good do not pile up.
 */
export const LEARNED_KEEP_S = 600;

export class LearnedHandoff {
  constructor(
    private readonly daemon: Daemon,
    private readonly store: FleetStore,
    private readonly host: string,
    private readonly log: Logger,
    /** False while etcd is unreachable: a binding then learns anew instead of waiting for it. */
    private readonly reachable: () => boolean,
  ) {}

  private key(owner: string, mac: string): string | undefined {
    const o = owner.toLowerCase();
    return UUID.test(o) && MAC.test(mac) ? `${this.store.config.prefix}learned/${o}/${mac}` : undefined;
  }

  start(): void {
    this.daemon.learning.onLearned = (port, state) => this.publish(port, state);
    this.daemon.guestArriving = (owner, mac) => this.arrive(owner, mac);
    this.daemon.guestLeft = (owner, mac) => void this.leave(owner, mac);
  }

  /** After the guest's port here is gone: its record, if still this host's, expires in a while. */
  private async leave(owner: string, mac: string): Promise<void> {
    const key = this.key(owner, mac);
    if (!key || !this.reachable()) return;
    try {
      const held = await this.store.getWithRevision(key);
      if (!held || GuestLearnedSchema.safeParse(JSON.parse(held.value)).data?.host !== this.host) return;
      await this.store.expireUnchanged(key, held.modRevision, held.value, LEARNED_KEEP_S);
    } catch (err) {
      this.log.warn(
        { owner, mac, err: (err as Error).message },
        'fleet: learned addresses of a guest gone not set to expire',
      );
    }
  }

  private publish(port: string, state: LearnerState): void {
    const b = this.daemon.bindings.list().find((x) => x.portdev === port);
    const key = b && this.key(b.owner.uuid, b.mac);
    if (!key) return;
    void this.store
      .put(key, JSON.stringify({ host: this.host, state }))
      .catch((err: Error) => this.log.warn({ port, err: err.message }, 'fleet: learned addresses not published'));
  }

  /** Before a guest's port is bound: what it learned elsewhere, if the fleet knows it. */
  private async arrive(owner: string, mac: string): Promise<void> {
    const key = this.key(owner, mac);
    if (!key || !this.reachable()) return;
    let text: string | undefined;
    try {
      text = await this.store.get(key);
    } catch {
      return; // learning anew is the safe fallback
    }
    if (text === undefined) return;
    const parsed = GuestLearnedSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      this.log.warn({ owner, mac }, 'fleet: learned addresses of the guest do not fit: learning anew');
      return;
    }
    this.daemon.learning.inherit(owner.toLowerCase(), mac, parsed.data.state);
    // the record is this host's now: kept (no lease) while the guest's port is here
    await this.store
      .put(key, JSON.stringify({ host: this.host, state: parsed.data.state }))
      .catch((err: Error) =>
        this.log.warn({ owner, mac, err: err.message }, 'fleet: learned addresses not taken over'),
      );
    this.log.info(
      { owner, mac, from: parsed.data.host, ipv4: parsed.data.state.ipv4.map((a) => a.address) },
      'fleet: guest arrives with its learned addresses',
    );
  }
}

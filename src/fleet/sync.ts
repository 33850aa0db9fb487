// One host of the fleet: its nwfilter and persistent network definitions follow etcd's. A local
// change (CLI, JSON API, libvirt RPC: all reach Daemon's definition methods) is written to etcd
// with a compare-and-swap on the revision this host last saw of it, before it is stored here
// (Daemon.definitionSink); changes from other hosts arrive through a watch and are applied
// through the same Daemon methods, so the same checks run and bindings are re-instantiated in
// one apply. The local definition files are the cache: with etcd unreachable the host keeps
// enforcing them, also across restarts, and catches up on reconnection by a full read (which
// also covers a compacted watch revision). Which revision of each definition this host holds is
// kept in DIR/var/lib/virtwall/fleet.json, so a restart knows what it missed.
import { join } from 'node:path';
import type { Watcher } from 'etcd3';
import type { Logger } from 'pino';
import * as z from '../util/zod.js';
import { VirtwallError } from '../errors.js';
import { formatFilter, parseFilter } from '../conf/nwfilter/index.js';
import { parseFilterBinding } from '../conf/nwfilterbinding/index.js';
import { parseNetwork } from '../conf/network/parse.js';
import type { Daemon } from '../daemon/daemon.js';
import { crashPoint } from '../daemon/persist.js';
import { jsonState, readState, writeFileAtomic } from '../util/state-file.js';
import { printable } from '../util/printable.js';
import { DEFINITION_KINDS, type DefinitionKind, type FleetStore, type StoredDefinition } from './store.js';
import { LearnedHandoff } from './learned.js';
import { hostRecord, parseHostRecord, type HostRecord } from './host-record.js';

/** How often the host record is refreshed (its `lastSeen`) and a lost etcd is tried again. */
export const HEARTBEAT_MS = 1000;

const HeldSchema = z.strictObject({ revision: z.int().check(z.nonnegative()), present: z.boolean() });
const StateSchema = z.strictObject({
  joined: z.boolean(),
  /** The highest definitions revision applied (from a full read or the watch). */
  revision: z.int().check(z.nonnegative()),
  /** KIND/NAME -> the revision this host holds of it (present: defined; else deleted at that revision). */
  held: z.record(z.string(), HeldSchema),
});
type FleetState = z.output<typeof StateSchema>;

export type Prefer = 'local' | 'cluster';

export class Fleet {
  private state: FleetState;
  /** KIND/NAME -> why the fleet's definition is not in effect here. */
  private readonly drift = new Map<string, string>();
  /** True while a change from etcd is applied: the sink then writes nothing back. */
  private applyingRemote = false;
  private watcher?: Watcher;
  private heartbeat?: NodeJS.Timeout;
  private reachable = false;
  private syncing?: Promise<void>;
  private publishing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly daemon: Daemon,
    private readonly store: FleetStore,
    private readonly stateFile: string,
    private readonly log: Logger,
  ) {
    this.state = readState(stateFile, jsonState(StateSchema)) ?? { joined: false, revision: 0, held: {} };
  }

  static stateFileOf(libDir: string): string {
    return join(libDir, 'fleet.json');
  }

  get host(): string {
    return this.store.config.hostName;
  }

  /** Hooks into the daemon and starts following etcd in the background (start-up never waits for it). */
  start(): void {
    this.daemon.definitionSink = { write: (kind, name, xml) => this.write(kind, name, xml) };
    new LearnedHandoff(this.daemon, this.store, this.host, this.log, () => this.reachable).start();
    const beat = () => {
      if (this.stopped) return;
      void this.beat().finally(() => {
        if (!this.stopped) this.heartbeat = setTimeout(beat, HEARTBEAT_MS);
      });
    };
    beat();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.heartbeat);
    await this.watcher?.cancel().catch(() => undefined);
    this.store.close();
  }

  /**
   * Publishes the host record (a host that has not joined only checks that etcd answers); the
   * first success after a failure (or start) catches up with etcd.
   */
  private async beat(): Promise<void> {
    try {
      if (this.state.joined) await this.publish();
      else await this.store.get(this.store.hostKey(this.host));
      if (!this.reachable) {
        this.reachable = true;
        this.log.info({ host: this.host }, 'fleet: etcd reachable');
        if (this.state.joined) await this.resync('etcd reachable');
      }
    } catch (err) {
      if (this.reachable)
        this.log.warn({ err: (err as Error).message }, 'fleet: etcd unreachable; enforcing the last known definitions');
      this.reachable = false;
    }
  }

  /** The host record, one write at a time (leave waits for the last before removing it). */
  private publish(): Promise<void> {
    const next = this.publishing.then(async () => {
      if (!this.state.joined) return;
      const record = hostRecord(this.daemon, {
        host: this.host,
        joined: true,
        revision: this.state.revision,
        drift: Object.fromEntries(this.drift),
      });
      await this.store.put(this.store.hostKey(this.host), JSON.stringify(record));
    });
    this.publishing = next.catch(() => undefined);
    return next;
  }

  // --- local changes to etcd ---

  /** The sink: a local change, checked here already, goes to etcd first; a refusal changes nothing. */
  private async write(kind: DefinitionKind, name: string, xml: string | undefined): Promise<void> {
    if (!this.state.joined || this.applyingRemote) return;
    const key = `${kind}/${name}`;
    const held = this.state.held[key];
    let revision: number;
    try {
      if (kind === 'nwfilter') await this.checkOtherHosts(name, xml);
      else if (xml !== undefined) await this.checkBridgeElsewhere(name, xml);
      revision = await this.store.compareAndSwap(kind, name, held?.present ? held.revision : 0, xml);
    } catch (err) {
      if (!(err instanceof VirtwallError) || err.kind !== 'operation-failed') throw err;
      throw new VirtwallError(
        'operation-failed',
        `cannot write ${kind} '${name}' to the fleet, nothing was applied: ${err.detail}`,
      );
    }
    // accepted by the fleet, not yet stored here: a restart catches up from etcd
    crashPoint('fleet:written');
    this.state.held[key] = { revision, present: xml !== undefined };
    this.drift.delete(key);
    this.save();
    this.log.info({ kind, name, revision, deleted: xml === undefined }, 'fleet: definition written');
  }

  /**
   * A filter change that would fail on another host that uses it is refused for the fleet: the
   * other hosts' bindings (from their records) must still instantiate, and an undefined filter
   * must be bound nowhere.
   */
  private async checkOtherHosts(name: string, xml: string | undefined): Promise<void> {
    const others = [...(await this.hosts()).values()].filter((h) => h.host !== this.host && h.joined);
    const affected = this.daemon.filters.affectedBy(name);
    const source = xml === undefined ? undefined : this.daemon.filters.source(parseFilter(xml, 'fleet'));
    for (const h of others) {
      for (const b of h.bindings) {
        if (!affected.has(b.filter)) continue;
        if (!source)
          throw new VirtwallError(
            'conflict',
            `nwfilter '${name}' is in use on fleet host '${h.host}' (binding ${b.portdev}): not undefined`,
          );
        try {
          this.daemon.bindings.check(affected, source, [parseFilterBinding(b.xml, `fleet host ${h.host}`)]);
        } catch (err) {
          throw new VirtwallError(
            'conflict',
            `refused for the fleet: on host '${h.host}' binding ${b.portdev} would fail: ${(err as Error).message}`,
          );
        }
      }
    }
  }

  /**
   * A network definition whose bridge another host's network (of another name) uses would fail
   * to apply there: refused for the fleet, naming the host and network.
   */
  private async checkBridgeElsewhere(name: string, xml: string): Promise<void> {
    const bridge = parseNetwork(xml, 'fleet').bridge.name;
    if (bridge === undefined) return;
    for (const h of (await this.hosts()).values()) {
      const clash = h.host !== this.host && h.joined && h.networks.find((n) => n.bridge === bridge && n.name !== name);
      if (clash)
        throw new VirtwallError(
          'conflict',
          `refused for the fleet: on host '${h.host}' network '${clash.name}' uses bridge '${bridge}'`,
        );
    }
  }

  /** Every host's record, by host name (records that do not fit the schema are skipped). */
  async hosts(): Promise<Map<string, HostRecord>> {
    const out = new Map<string, HostRecord>();
    for (const [key, text] of await this.store.getPrefix(this.store.hostsPrefix)) {
      const record = parseHostRecord(text);
      if (record && key === this.store.hostKey(record.host)) out.set(record.host, record);
      else this.log.warn({ key: printable(key) }, 'fleet: host record skipped (does not fit)');
    }
    return out;
  }

  // --- etcd to local ---

  /** A full read, then a watch from the revision after it (one at a time). */
  private resync(reason: string): Promise<void> {
    // a catch-up that failed is tried again by the next heartbeat that reaches etcd
    this.syncing ??= this.fullSync(reason)
      .catch((err: unknown) => {
        this.log.warn(
          { reason, err: (err as Error).message },
          'fleet: catch-up failed; the next heartbeat tries again',
        );
        this.reachable = false;
        throw err;
      })
      .finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async fullSync(reason: string): Promise<void> {
    const old = this.watcher;
    this.watcher = undefined;
    await old?.cancel().catch(() => undefined);
    const { revision, defs } = await this.store.definitions();
    const inCluster = new Set(defs.map((d) => `${d.kind}/${d.name}`));
    const changes: Change[] = defs
      .filter((d) => this.state.held[`${d.kind}/${d.name}`]?.revision !== d.modRevision)
      .map((d) => ({ ...d, deleted: false }));
    for (const [key, held] of Object.entries(this.state.held)) {
      if (!held.present || inCluster.has(key)) continue;
      const [kind, name] = key.split('/') as [DefinitionKind, string];
      changes.push({ kind, name, xml: '', modRevision: revision, deleted: true });
    }
    await this.daemon.serial(() => this.applyAll(changes));
    this.state.revision = Math.max(this.state.revision, revision);
    this.save();
    this.log.info({ reason, revision, applied: changes.length }, 'fleet: caught up with etcd');
    if (this.stopped || !this.state.joined) return;
    this.watcher = await this.store.watchDefinitions(revision + 1);
    this.watcher.on('put', (kv) => this.onEvent(this.store.definitionOf(kv), false));
    this.watcher.on('delete', (kv) => this.onEvent(this.store.definitionOf(kv), true));
    // a watch etcd cancelled (its revision compacted) or that broke: catch up again by a full read
    this.watcher.on('error', (err) => {
      this.log.warn({ err: err.message }, 'fleet: watch failed; catching up by a full read');
      void this.resync('watch failed').catch((e: Error) => this.log.warn({ err: e.message }, 'fleet: catch-up failed'));
    });
  }

  private onEvent(defs: StoredDefinition[], deleted: boolean): void {
    for (const d of defs)
      void this.daemon
        .serial(() => this.applyAll([{ ...d, deleted }]))
        .then(() => {
          this.state.revision = Math.max(this.state.revision, d.modRevision);
          this.save();
          void this.publish().catch(() => undefined);
        })
        .catch((err: Error) => this.log.error({ err: err.message }, 'fleet: applying a change failed'));
  }

  /**
   * Applies changes (inside the daemon's serial queue). Filters before networks; a filter whose
   * bindings need another filter of the same batch is tried again after the others, so the
   * order etcd lists them in does not matter. What still fails stays as it was here: drift.
   */
  private async applyAll(changes: Change[]): Promise<void> {
    // a change older than what this host holds is one it made itself, or saw already
    const fresh = changes
      .filter((c) => {
        const held = this.state.held[`${c.kind}/${c.name}`]?.revision ?? 0;
        return held < c.modRevision || (c.deleted && held === c.modRevision);
      })
      .sort((a, b) => DEFINITION_KINDS.indexOf(a.kind) - DEFINITION_KINDS.indexOf(b.kind));
    let pending = fresh;
    const failed = new Map<Change, string>();
    for (let progress = true; pending.length && progress; ) {
      progress = false;
      failed.clear();
      for (const c of pending) {
        try {
          await this.apply(c);
          progress = true;
        } catch (err) {
          failed.set(c, (err as Error).message);
        }
      }
      pending = [...failed.keys()];
    }
    for (const c of fresh) {
      const key = `${c.kind}/${c.name}`;
      // the fleet's revision is held even if it could not be applied: the next local write
      // compares against it, and the drift says what is not in effect
      this.state.held[key] = { revision: c.modRevision, present: !c.deleted };
      const why = failed.get(c);
      if (why === undefined) this.drift.delete(key);
      else {
        this.drift.set(key, why);
        this.log.error({ kind: c.kind, name: c.name, err: why }, 'fleet: definition not applied on this host (drift)');
      }
    }
  }

  private async apply(c: Change): Promise<void> {
    this.applyingRemote = true;
    try {
      const file = `etcd:${c.kind}/${c.name}`;
      // a definition is applied under the name of its key only: a key cannot define another object
      const named = c.deleted ? c.name : (c.kind === 'nwfilter' ? parseFilter : parseNetwork)(c.xml, file).name;
      if (named !== c.name)
        throw new VirtwallError('invalid-input', `${file} holds a definition named '${printable(named)}'`);
      if (c.kind === 'nwfilter') {
        if (!c.deleted) await this.daemon.defineFilter(c.xml, file);
        else if (this.daemon.filters.list().some((f) => f.name === c.name)) await this.daemon.undefineFilter(c.name);
      } else if (!c.deleted) await this.daemon.networkDefine(c.xml, file);
      else if (this.daemon.networks.isPersistent(c.name)) await this.daemon.networkUndefine(c.name);
      this.log.info({ kind: c.kind, name: c.name, revision: c.modRevision, deleted: c.deleted }, 'fleet: applied');
    } finally {
      this.applyingRemote = false;
    }
  }

  private save(): void {
    writeFileAtomic(this.stateFile, JSON.stringify(this.state), 0o600);
  }

  // --- cluster join / leave / status ---

  /**
   * Joins: the local definitions go to etcd, the fleet's come here. A definition both hold with
   * different content is refused with both texts unless `prefer` says which side wins.
   */
  async join(prefer?: Prefer): Promise<{ exported: string[]; imported: string[]; replaced: string[] }> {
    if (this.state.joined) throw new VirtwallError('conflict', `host '${this.host}' has joined the fleet already`);
    const { defs } = await this.store.definitions();
    const cluster = new Map(defs.map((d) => [`${d.kind}/${d.name}`, d]));
    const local = this.localDefinitions();
    const differ = [...local].filter(([key, xml]) => cluster.has(key) && cluster.get(key)!.xml !== xml);
    if (differ.length && !prefer)
      throw new VirtwallError(
        'conflict',
        `definitions differ between this host and the fleet (use --prefer local or --prefer cluster):\n${differ
          .map(([key, xml]) => diff(key, xml, cluster.get(key)!.xml))
          .join('\n')}`,
      );
    const exported: string[] = [];
    const replaced: string[] = [];
    for (const [key, xml] of local) {
      const there = cluster.get(key);
      if (there && (there.xml === xml || prefer === 'cluster')) continue;
      const [kind, name] = key.split('/') as [DefinitionKind, string];
      const revision = await this.store.compareAndSwap(kind, name, there?.modRevision ?? 0, xml);
      this.state.held[key] = { revision, present: true };
      (there ? replaced : exported).push(key);
    }
    const imported = [...cluster.values()].filter((d) => {
      const key = `${d.kind}/${d.name}`;
      return !local.has(key) || (local.get(key) !== d.xml && prefer === 'cluster');
    });
    for (const d of cluster.values())
      if (local.get(`${d.kind}/${d.name}`) === d.xml)
        this.state.held[`${d.kind}/${d.name}`] = { revision: d.modRevision, present: true };
    this.state.joined = true;
    this.save();
    await this.applyAll(imported.map((d) => ({ ...d, deleted: false })));
    this.save();
    this.log.info({ exported, imported: imported.length, replaced }, 'fleet: joined');
    void this.resync('joined').catch((err: Error) => this.log.warn({ err: err.message }, 'fleet: catch-up failed'));
    return { exported, imported: imported.map((d) => `${d.kind}/${d.name}`), replaced };
  }

  /** Leaves: this host stops following etcd; its definitions stay as they are. */
  async leave(): Promise<{ left: string }> {
    if (!this.state.joined) throw new VirtwallError('conflict', `host '${this.host}' is not in the fleet`);
    this.state = { joined: false, revision: 0, held: {} };
    this.drift.clear();
    this.save();
    const old = this.watcher;
    this.watcher = undefined;
    await old?.cancel().catch(() => undefined);
    // a record being written as the host left would outlive the delete
    await this.publishing;
    await this.store.client
      .delete()
      .key(this.store.hostKey(this.host))
      .exec()
      .catch(() => undefined);
    this.log.info({ host: this.host }, 'fleet: left (local definitions kept)');
    return { left: this.host };
  }

  /** Every host as its record says, and what this host sees. */
  async status(): Promise<FleetStatus> {
    const { revision, defs } = await this.store.definitions();
    const latest = Math.max(0, ...defs.map((d) => d.modRevision));
    return {
      host: this.host,
      joined: this.state.joined,
      etcdRevision: revision,
      definitions: defs.length,
      hosts: [...(await this.hosts()).values()].map((h) => ({
        host: h.host,
        joined: h.joined,
        lastSeen: h.lastSeen,
        revision: h.revision,
        behind: h.joined && h.revision < latest,
        drift: h.drift,
        networks: h.networks,
        bindings: h.bindings.length,
      })),
    };
  }

  /** This host's definitions as etcd would hold them, by KIND/NAME. */
  private localDefinitions(): Map<string, string> {
    const out = new Map<string, string>();
    for (const f of this.daemon.filters.list()) out.set(`nwfilter/${f.name}`, formatFilter(f));
    for (const n of this.daemon.networks.list())
      if (n.persistent) out.set(`network/${n.name}`, this.daemon.networkXml(n.name, true));
    return out;
  }
}

interface Change extends StoredDefinition {
  deleted: boolean;
}

export interface FleetStatus {
  host: string;
  joined: boolean;
  etcdRevision: number;
  definitions: number;
  hosts: {
    host: string;
    joined: boolean;
    lastSeen: string;
    revision: number;
    behind: boolean;
    drift: Record<string, string>;
    networks: HostRecord['networks'];
    bindings: number;
  }[];
}

/** The lines that differ, local (-) against the fleet (+). */
function diff(key: string, local: string, cluster: string): string {
  const a = local.split('\n');
  const b = cluster.split('\n');
  const lines = [`--- ${key} (this host)`, `+++ ${key} (fleet)`];
  for (const l of a) if (!b.includes(l)) lines.push(`-${l}`);
  for (const l of b) if (!a.includes(l)) lines.push(`+${l}`);
  return lines.join('\n');
}

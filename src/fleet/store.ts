// The fleet's etcd: a client with mutual TLS, the layout of the keys under the prefix, and the
// few operations the fleet needs (a read of every definition at one revision, writes that
// succeed only if the key is still at the revision the writer saw, a watch from a revision).
// Unary calls have a short deadline: with etcd unreachable a cluster write fails in seconds with
// a clear error instead of hanging the daemon's serialised operations.
import { readFileSync } from 'node:fs';
import {
  BrokenCircuitError,
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  retry,
} from 'cockatiel';
import { Etcd3, isRecoverableError, type IKeyValue, type Watcher } from 'etcd3';
import { VirtwallError } from '../errors.js';
import type { FleetConfig } from '../daemon/config.js';

/** What the fleet shares: nwfilter and persistent network definitions, by name. */
export type DefinitionKind = 'nwfilter' | 'network';
export const DEFINITION_KINDS: readonly DefinitionKind[] = ['nwfilter', 'network'];

/** A definition as etcd holds it: its XML and the revision it was last written at. */
export interface StoredDefinition {
  kind: DefinitionKind;
  name: string;
  xml: string;
  modRevision: number;
}

const CALL_DEADLINE_MS = 3000;

export class FleetStore {
  readonly client: Etcd3;

  constructor(readonly config: FleetConfig) {
    this.client = new Etcd3({
      hosts: config.endpoints,
      credentials: {
        rootCertificate: readFileSync(config.caFile),
        certChain: readFileSync(config.certFile),
        privateKey: readFileSync(config.keyFile),
      },
      dialTimeout: CALL_DEADLINE_MS,
      // a healed partition is noticed within seconds (gRPC's default backoff grows to 2 minutes)
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 2000 },
      // etcd3's default keeps a failing member's breaker open 5 s, so writes failed for seconds
      // after a partition healed; here a member is tried again after 250 ms, and a call that
      // finds every breaker open waits for one to half-open instead of failing at once
      faultHandling: {
        host: () =>
          circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 250, breaker: new ConsecutiveBreaker(3) }),
        global: retry(
          handleWhen((e) => isRecoverableError(e) || e instanceof BrokenCircuitError),
          { maxAttempts: 4, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 400 }) },
        ),
      },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
    });
  }

  definitionKey(kind: DefinitionKind, name: string): string {
    return `${this.config.prefix}defs/${kind}/${name}`;
  }

  get definitionsPrefix(): string {
    return `${this.config.prefix}defs/`;
  }

  hostKey(host: string): string {
    return `${this.config.prefix}hosts/${host}`;
  }

  get hostsPrefix(): string {
    return `${this.config.prefix}hosts/`;
  }

  /** The definition a key names, or undefined for a key outside the layout. */
  parseDefinitionKey(key: string): { kind: DefinitionKind; name: string } | undefined {
    const m = /^(nwfilter|network)\/([^/]+)$/.exec(key.slice(this.definitionsPrefix.length));
    return key.startsWith(this.definitionsPrefix) && m ? { kind: m[1] as DefinitionKind, name: m[2]! } : undefined;
  }

  /** Every definition, and the revision the read saw (a watch from revision + 1 misses nothing). */
  async definitions(): Promise<{ revision: number; defs: StoredDefinition[] }> {
    const res = await this.call('read the definitions', () =>
      this.client.getAll().prefix(this.definitionsPrefix).exec(),
    );
    return { revision: Number(res.header.revision), defs: res.kvs.flatMap((kv) => this.definitionOf(kv)) };
  }

  definitionOf(kv: IKeyValue): StoredDefinition[] {
    const id = this.parseDefinitionKey(kv.key.toString());
    return id ? [{ ...id, xml: kv.value.toString(), modRevision: Number(kv.mod_revision) }] : [];
  }

  /**
   * Writes (xml) or deletes (undefined) a definition if etcd still holds it at `seen` (0: absent).
   * Returns the revision of the write; a key changed meanwhile is a conflict, naming who won.
   */
  async compareAndSwap(kind: DefinitionKind, name: string, seen: number, xml: string | undefined): Promise<number> {
    const key = this.definitionKey(kind, name);
    const txn = this.client.if(key, 'Mod', '==', seen);
    const res = await this.call(`write ${kind} '${name}' to the fleet`, () =>
      (xml === undefined ? txn.then(this.client.delete().key(key)) : txn.then(this.client.put(key).value(xml)))
        .else(this.client.get(key))
        .commit(),
    );
    if (!res.succeeded) {
      const now = res.responses[0]?.response_range?.kvs[0];
      throw new VirtwallError(
        'conflict',
        `${kind} '${name}' was changed in the fleet meanwhile (revision ${now ? Number(now.mod_revision) : 'deleted'}, this host had seen ${seen || 'none'}): nothing was applied; look at it again and retry`,
      );
    }
    return Number(res.header.revision);
  }

  /** A watch of the definitions from `revision` (inclusive). */
  watchDefinitions(revision: number): Promise<Watcher> {
    return this.client.watch().prefix(this.definitionsPrefix).startRevision(String(revision)).create();
  }

  async put(key: string, value: string): Promise<void> {
    await this.call(`write ${key}`, () => this.client.put(key).value(value).exec());
  }

  async getPrefix(prefix: string): Promise<Map<string, string>> {
    const res = await this.call(`read ${prefix}`, () => this.client.getAll().prefix(prefix).strings());
    return new Map(Object.entries(res));
  }

  /** A key's value and the revision it was last written at; undefined when absent. */
  async getWithRevision(key: string): Promise<{ value: string; modRevision: number } | undefined> {
    const res = await this.call(`read ${key}`, () => this.client.get(key).exec());
    const kv = res.kvs[0];
    return kv && { value: kv.value.toString(), modRevision: Number(kv.mod_revision) };
  }

  /**
   * Lets a key expire `ttl` seconds from now (an etcd lease), if it is still at `seen` (where it
   * held `value`, which it keeps meanwhile); a later write without a lease keeps it for good.
   */
  async expireUnchanged(key: string, seen: number, value: string, ttl: number): Promise<boolean> {
    return this.call(`let ${key} expire`, async () => {
      const lease = this.client.lease(ttl, { autoKeepAlive: false });
      const id = await lease.grant();
      const res = await this.client
        .if(key, 'Mod', '==', seen)
        .then(this.client.put(key).value(value).lease(id))
        .commit();
      if (!res.succeeded) await lease.revoke();
      return res.succeeded;
    });
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.getWithRevision(key))?.value;
  }

  close(): void {
    this.client.close();
  }

  /** Runs an etcd call; a failure becomes one clear error saying the fleet is unreachable. */
  private async call<T>(what: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw new VirtwallError(
        'operation-failed',
        `cannot ${what}: etcd (${this.config.endpoints.join(',')}) is unreachable or refused: ${(err as Error).message}`,
      );
    }
  }
}

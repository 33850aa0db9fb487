// libvirt's RPC server for the network and nwfilter drivers: Unix sockets as libvirt's modular
// daemons have them (virtnetworkd-sock, -sock-ro, ...), each connection a Session whose calls
// are answered in order. A frame outside the limits closes the connection (as libvirt does); a
// call that cannot be decoded, is unknown, or fails gets libvirt's error reply and the
// connection goes on. A client sending faster than it is served stops being read (libvirt's
// max_client_requests), so pipelining costs bounded memory.
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { basename } from 'node:path';
import type { Logger } from 'pino';
import type { Daemon } from '../daemon/daemon.js';
import { VirtwallError } from '../errors.js';
import { socketInUse } from '../util/socket-in-use.js';
import { CODE, DOMAIN, libvirtError, toLibvirtError, type LibvirtError } from './errors.js';
import { unwatchAll } from './events.js';
import {
  encodeFrame,
  FrameError,
  FrameSplitter,
  MESSAGE_MAX,
  PROGRAM,
  PROTOCOL_VERSION,
  STATUS,
  TYPE,
  type Frame,
  type Header,
} from './framing.js';
import { DEFAULT_KEEPALIVE, Keepalive, type KeepaliveSettings } from './keepalive.js';
import { PROCEDURES } from './procedures.js';
import { messageError } from './remote-types.js';
import { DRIVER_DOMAIN, type Driver, type Session } from './session.js';
import { decode, encode } from './xdr.js';

/** libvirt's error codes by number, as outcomes in metrics. */
const CODE_NAME = new Map(Object.entries(CODE).map(([name, code]) => [code as number, name]));
/** Calls a client may have waiting before its socket is no longer read (libvirt: max_client_requests = 5). */
const MAX_PENDING_CALLS = 5;
/** Connections waiting to be accepted (node's default, 511, refuses a burst of 1,000 clients). */
const LISTEN_BACKLOG = 4096;
/** A read-only client's calls carry names, never documents: its frames are kept small. */
const READONLY_MESSAGE_MAX = 1 << 20;

export interface RpcSocket {
  path: string;
  driver: Driver;
  readonly: boolean;
  /** A listening socket passed by systemd (socket activation) for `path`. */
  fd?: number;
}

export interface RpcServerOptions {
  keepalive?: KeepaliveSettings;
  /** Connections served at once; more are closed at once (libvirt's max_clients). */
  maxClients?: number;
  /** Of these, connections on read-only sockets (any local user may open them): they cannot crowd out root's clients. */
  maxReadonlyClients?: number;
}

export class RpcServer {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<Connection>();

  constructor(
    private readonly daemon: Daemon,
    private readonly log: Logger,
    private readonly options: RpcServerOptions = {},
  ) {}

  /** Listens on `socket.path` (a stale file there is replaced): 0600, or 0666 for read-only sockets as libvirt's. */
  async listen(socket: RpcSocket): Promise<void> {
    const server = createServer((s) => this.accept(s, socket));
    if (socket.fd !== undefined) {
      await listenOn(server, { fd: socket.fd });
      this.servers.push(server);
      return;
    }
    // a live libvirt daemon's socket is never taken over: it has to be stopped (masked) first
    if (await socketInUse(socket.path))
      throw new VirtwallError(
        'conflict',
        `${socket.path} is served by another daemon (stop and mask libvirt's ${basename(socket.path).replace(/-sock.*/, '')} sockets, or set libvirt_sockets = 0)`,
      );
    rmSync(socket.path, { force: true });
    const umask = process.umask(0o177);
    try {
      await listenOn(server, { path: socket.path, backlog: LISTEN_BACKLOG });
    } finally {
      process.umask(umask);
    }
    chmodSync(socket.path, socket.readonly ? 0o666 : 0o600);
    this.servers.push(server);
  }

  get clients(): number {
    return this.connections.size;
  }

  private accept(socket: Socket, where: RpcSocket): void {
    const readonly = [...this.connections].filter((c) => c.onReadonlySocket).length;
    if (
      this.connections.size >= (this.options.maxClients ?? 5000) ||
      (where.readonly && readonly >= (this.options.maxReadonlyClients ?? 1000))
    ) {
      this.log.warn({ socket: where.path }, 'too many libvirt clients: connection refused');
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, where, this.daemon, this.log, this.options.keepalive ?? DEFAULT_KEEPALIVE, () =>
      this.connections.delete(conn),
    );
    this.connections.add(conn);
  }

  async close(): Promise<void> {
    const closed = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const c of this.connections) c.destroy();
    await Promise.all(closed);
  }
}

class Connection implements Session {
  readonly driver: Driver;
  readonly: boolean;
  open = false;
  identity: Record<string, unknown> = {};
  readonly callbacks = new Map<number, () => void>();
  private readonly splitter: FrameSplitter;
  private readonly keepalive: Keepalive;
  private readonly pending: Frame[] = [];
  private busy = false;
  private closing = false;

  readonly onReadonlySocket: boolean;

  constructor(
    private readonly socket: Socket,
    where: RpcSocket,
    readonly daemon: Daemon,
    private readonly log: Logger,
    keepalive: KeepaliveSettings,
    private readonly gone: () => void,
  ) {
    this.driver = where.driver;
    this.readonly = where.readonly;
    this.onReadonlySocket = where.readonly;
    this.splitter = new FrameSplitter(where.readonly ? READONLY_MESSAGE_MAX : MESSAGE_MAX);
    this.keepalive = new Keepalive(
      keepalive,
      (f) => this.write(f),
      () => {
        this.log.info({ driver: this.driver }, 'libvirt client stopped answering keepalive: closed');
        this.destroy();
      },
    );
    socket.on('data', (data) => this.receive(data));
    socket.on('error', () => undefined);
    socket.on('close', () => this.closed());
  }

  sendMessage(proc: number, payload: Buffer): void {
    // libvirt sends events with serial 1 (remoteDispatchObjectEventSend)
    this.write(
      encodeFrame(
        { prog: PROGRAM.remote, vers: PROTOCOL_VERSION, proc, type: TYPE.message, serial: 1, status: STATUS.ok },
        payload,
      ),
    );
  }

  startKeepalive(): void {
    this.keepalive.start();
  }

  closeAfterReply(): void {
    this.closing = true;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private write(frame: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(frame);
  }

  private receive(data: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.splitter.push(data);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      this.log.warn({ driver: this.driver, err: err.message }, 'libvirt client sent a bad frame: closed');
      this.destroy();
      return;
    }
    this.keepalive.received(undefined);
    for (const frame of frames) {
      if (frame.header.prog === PROGRAM.keepalive) this.keepalive.received(frame.header);
      // replies, messages and stream packets from a client need no answer (libvirt drops them)
      else if (frame.header.type === TYPE.call || frame.header.type === TYPE.callWithFds) this.pending.push(frame);
    }
    if (this.pending.length >= MAX_PENDING_CALLS) this.socket.pause();
    void this.drain();
  }

  /** Answers the waiting calls one by one, in order. */
  private async drain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    while (this.pending.length && !this.socket.destroyed) {
      const frame = this.pending.shift()!;
      this.write(await this.answer(frame));
      if (this.closing) {
        this.socket.end();
        break;
      }
      if (this.pending.length < MAX_PENDING_CALLS) this.socket.resume();
    }
    this.busy = false;
  }

  private async answer({ header, payload }: Frame): Promise<Buffer> {
    const t0 = performance.now();
    let command = 'unknown';
    const reply = (status: number, body: Buffer, outcome: string) => {
      this.daemon.telemetry.request('libvirt', command, outcome, (performance.now() - t0) / 1000);
      return encodeFrame({ ...header, type: TYPE.reply, status }, body);
    };
    try {
      const proc = this.check(header);
      command = proc.name;
      let args: unknown;
      try {
        args = decode(proc.args, payload);
      } catch {
        throw libvirtError(CODE.rpc, DOMAIN.rpc, 'Unable to decode message payload');
      }
      if (proc.write && this.readonly)
        throw libvirtError(CODE.operationDenied, DRIVER_DOMAIN[this.driver], `read only access prevents ${proc.write}`);
      const run = () => proc.run(this, args as Record<string, unknown>);
      const result = await (proc.write ? this.daemon.serial(run) : run());
      if (proc.write) this.log.info({ driver: this.driver, call: proc.name, identity: this.identity }, 'libvirt call');
      return reply(STATUS.ok, encode(proc.ret, result ?? {}), 'ok');
    } catch (err) {
      const e = toLibvirtError(err, DRIVER_DOMAIN[this.driver]);
      this.log[e.code === CODE.internal ? 'error' : 'debug'](
        { driver: this.driver, proc: header.proc, code: e.code, err: e.message },
        'libvirt call failed',
      );
      return reply(STATUS.error, errorBody(e), CODE_NAME.get(e.code) ?? `code-${e.code}`);
    }
  }

  /** libvirt's checks before a call runs (virNetServerProgramDispatch, the remote dispatcher's connection lookup). */
  private check(header: Header) {
    if (header.prog !== PROGRAM.remote || header.vers !== PROTOCOL_VERSION)
      throw libvirtError(CODE.rpc, DOMAIN.rpc, `Cannot find program ${header.prog} version ${header.vers}`);
    if (header.type !== TYPE.call) throw libvirtError(CODE.rpc, DOMAIN.rpc, `Unexpected message type ${header.type}`);
    if (header.status !== STATUS.ok)
      throw libvirtError(CODE.rpc, DOMAIN.rpc, `Unexpected message status ${header.status}`);
    const proc = PROCEDURES.get(header.proc);
    if (!proc) throw libvirtError(CODE.rpc, DOMAIN.rpc, `unknown procedure: ${header.proc}`);
    if (proc.needs === 'open' && !this.open)
      throw libvirtError(CODE.internal, DOMAIN.rpc, 'hypervisor connection not open');
    if (proc.needs !== 'none' && proc.needs !== 'open' && (!this.open || proc.needs !== this.driver))
      throw libvirtError(CODE.internal, DOMAIN.rpc, 'connection not open');
    return proc;
  }

  private closed(): void {
    this.keepalive.stop();
    unwatchAll(this);
    this.pending.length = 0;
    this.gone();
  }
}

function listenOn(server: Server, target: { path: string; backlog: number } | { fd: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(target, resolve);
  });
}

function errorBody(e: LibvirtError): Buffer {
  return encode(messageError, {
    code: e.code,
    domain: e.domain,
    message: e.message,
    level: e.level,
    dom: null,
    str1: null,
    str2: null,
    str3: null,
    int1: 0,
    int2: 0,
    net: null,
  });
}

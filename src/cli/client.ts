// The CLI's side of the daemon API: one JSON request over the Unix socket of a state root, or
// over TLS with a client certificate (`--connect tls://HOST[:PORT]`, libvirt's file layout).
// Errors come back with the daemon's error kind, so exit codes match a local failure. The
// request is written and its answer read (http-answer.ts) over the socket itself: node:http's
// client costs a hook's bind about 8 ms per request. Node's TLS loads only for a tls:// connection.
import { readFileSync } from 'node:fs';
import { connect as connectUnix, isIP, type Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { join } from 'node:path';
import type { Command } from 'commander';
import { VirtwallError, invalidInput, type ErrorKind } from '../errors.js';
import { DEFAULT_TLS_PORT, PKI } from '../daemon/pki.js';
import { stateLayout } from '../daemon/layout.js';
import { HttpAnswer } from './http-answer.js';

/** Where the daemon listens: its Unix socket, or a TLS port. */
type Target = { socket: string } | { tls: ConnectionOptions & { host: string; port: number } };

/** A request path as the request line carries it: visible ASCII only (names are escaped by seg). */
const REQUEST_PATH = /^\/[\x21-\x7e]*$/;

/** One exchange's events, as call() and stream() take them. */
interface Exchange {
  /** The answer's status, once its head is read. */
  onStatus(status: number): void;
  onText(text: string): void;
  /** The answer is complete. */
  onEnd(): void;
  /** The connection failed; `connected`: after it was made. */
  onError(err: Error, connected: boolean): void;
}

export class DaemonClient {
  constructor(
    /** What error messages call the daemon's address. */
    readonly address: string,
    private readonly target: Target,
  ) {}

  static forRoot(root: string): DaemonClient {
    const socket = stateLayout(root).socket;
    return new DaemonClient(socket, { socket });
  }

  /** `tls://HOST[:PORT]`: TLS with the CA, client certificate and key under `root`'s etc/pki. */
  static forUri(uri: string, root: string): DaemonClient {
    const m = /^tls:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/.exec(uri);
    if (!m) throw invalidInput(`unsupported connection URI '${uri}' (expected tls://HOST[:PORT])`);
    const file = (rel: string) => {
      const path = join(root, rel);
      try {
        return readFileSync(path);
      } catch (err) {
        throw new VirtwallError('operation-failed', `cannot read ${path} for ${uri}: ${(err as Error).message}`);
      }
    };
    const host = m[1]!.replace(/^\[|\]$/g, '');
    const port = Number(m[2] ?? DEFAULT_TLS_PORT);
    return new DaemonClient(uri, {
      tls: {
        host,
        port,
        // the name the certificate must carry, sent as SNI too (as https does; not for an address)
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ca: file(PKI.caFile),
        cert: file(PKI.clientCert),
        key: file(PKI.clientKey),
        minVersion: 'TLSv1.2',
      },
    });
  }

  /** The client of the `--root` (and `--connect`) given to the program. */
  static of(cmd: Command): DaemonClient {
    const o = cmd.optsWithGlobals() as { root: string; connect?: string };
    return o.connect ? DaemonClient.forUri(o.connect, o.root) : DaemonClient.forRoot(o.root);
  }

  /**
   * Sends one request; `events` get the answer. Returns a function that ends the exchange (the
   * connection is closed; no event follows).
   */
  private async exchange(method: string, path: string, body: unknown, events: Exchange): Promise<() => void> {
    if (!REQUEST_PATH.test(path)) throw new TypeError('Request path contains unescaped characters');
    const payload = Buffer.from(JSON.stringify(body ?? {}));
    const host = 'socket' in this.target ? 'localhost' : `${this.target.tls.host}:${this.target.tls.port}`;
    const head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\ncontent-length: ${payload.length}\r\nconnection: close\r\n\r\n`;
    let socket: Socket;
    let ready: string;
    if ('socket' in this.target) {
      socket = connectUnix(this.target.socket);
      ready = 'connect';
    } else {
      socket = (await import('node:tls')).connect(this.target.tls);
      ready = 'secureConnect';
    }
    let connected = false;
    let done = false;
    const end = () => {
      done = true;
      socket.destroy();
    };
    const fail = (err: Error) => {
      if (done) return;
      end();
      events.onError(err, connected);
    };
    const answer = new HttpAnswer((text) => done || events.onText(text));
    socket.once(ready, () => {
      connected = true;
      socket.write(Buffer.concat([Buffer.from(head, 'latin1'), payload]));
    });
    socket.on('data', (data: Buffer) => {
      if (done) return;
      try {
        const known = answer.status !== undefined;
        answer.push(data);
        if (!known && answer.status !== undefined) events.onStatus(answer.status);
      } catch (err) {
        return fail(new Error(`malformed answer: ${(err as Error).message}`));
      }
      if (answer.complete && !done) {
        end();
        events.onEnd();
      }
    });
    socket.on('error', fail);
    // the daemon closed first: complete only if the answer is
    socket.on('close', () => {
      if (done) return;
      if (answer.end()) {
        end();
        return events.onEnd();
      }
      // node:http's words for a connection closed before its answer
      fail(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    });
    return end;
  }

  /**
   * A streamed answer (NDJSON): `onObject` gets each line's object as it comes; resolves when the
   * daemon ends the stream or `stop` (returned through `started`) is called. An error answer
   * rejects as call() does.
   */
  async stream(
    method: string,
    path: string,
    body: unknown,
    onObject: (o: Record<string, unknown>) => void,
    started: (stop: () => void) => void,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      let status = 0;
      let text = '';
      this.exchange(method, path, body, {
        onStatus: (s) => (status = s),
        onText: (d) => {
          if (status >= 400) {
            text += d;
            return;
          }
          const lines = (text + d).split('\n');
          text = lines.pop()!;
          for (const line of lines) if (line.trim() !== '') onObject(JSON.parse(line) as Record<string, unknown>);
        },
        onEnd: () => {
          if (status < 400) return resolve();
          let parsed: { error?: string; kind?: ErrorKind } = {};
          try {
            parsed = JSON.parse(text) as typeof parsed;
          } catch {
            // the status says enough
          }
          reject(new VirtwallError(parsed.kind ?? 'operation-failed', parsed.error ?? `daemon replied ${status}`));
        },
        // a stream ends when the daemon ends it: a connection it closes mid-stream is the end
        onError: (err, connected) =>
          connected && status !== 0 && status < 400
            ? resolve()
            : reject(
                new VirtwallError('operation-failed', `daemon at ${this.address}: ${method} ${path}: ${err.message}`),
              ),
      }).then(
        (stop) =>
          started(() => {
            stop();
            resolve();
          }),
        reject,
      );
    });
  }

  async call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      let status = 0;
      let text = '';
      this.exchange(method, path, body, {
        onStatus: (s) => (status = s),
        onText: (d) => (text += d),
        onEnd: () => {
          let parsed: { error?: string; kind?: ErrorKind };
          try {
            parsed = JSON.parse(text) as typeof parsed;
          } catch {
            return reject(new VirtwallError('operation-failed', `daemon sent an unreadable reply (${status})`));
          }
          if (status >= 400)
            return reject(
              new VirtwallError(parsed.kind ?? 'operation-failed', parsed.error ?? `daemon replied ${status}`),
            );
          resolve(parsed as T);
        },
        onError: (err, connected) =>
          reject(
            new VirtwallError(
              'operation-failed',
              connected
                ? `the daemon at ${this.address} closed the connection before answering ${method} ${path} (it may have stopped or died; see its log): ${err.message}`
                : `failed to connect to the daemon at ${this.address}: ${err.message}`,
            ),
          ),
      }).catch(reject);
    });
  }
}

/** A path segment carrying a name (encoded: names never add path components). */
export const seg = (s: string): string => encodeURIComponent(s);

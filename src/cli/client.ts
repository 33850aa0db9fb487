// The CLI's side of the daemon API: one JSON request over the Unix socket of a state root, or
// over HTTPS with a client certificate (`--connect tls://HOST[:PORT]`, libvirt's file layout).
// Errors come back with the daemon's error kind, so exit codes match a local failure. Node's
// https (and the TLS and crypto modules under it) loads only for a tls:// connection.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { join } from 'node:path';
import type { Command } from 'commander';
import { VirtwallError, invalidInput, type ErrorKind } from '../errors.js';
import { DEFAULT_TLS_PORT, PKI } from '../daemon/config.js';
import { stateLayout } from '../daemon/layout.js';

type Send = (opts: RequestOptions, onReply: (res: IncomingMessage) => void) => ClientRequest;

export class DaemonClient {
  constructor(
    /** What error messages call the daemon's address. */
    readonly address: string,
    private readonly target: RequestOptions,
    /** The request function: http's, or https's for TLS (loaded on the first call). */
    private readonly transport: 'unix' | 'tls' = 'unix',
  ) {}

  static forRoot(root: string): DaemonClient {
    const socket = stateLayout(root).socket;
    return new DaemonClient(socket, { socketPath: socket });
  }

  /** `tls://HOST[:PORT]`: HTTPS with the CA, client certificate and key under `root`'s etc/pki. */
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
    return new DaemonClient(
      uri,
      {
        host,
        port,
        ca: file(PKI.caFile),
        cert: file(PKI.clientCert),
        key: file(PKI.clientKey),
        minVersion: 'TLSv1.2',
      } as RequestOptions,
      'tls',
    );
  }

  /** The client of the `--root` (and `--connect`) given to the program. */
  static of(cmd: Command): DaemonClient {
    const o = cmd.optsWithGlobals() as { root: string; connect?: string };
    return o.connect ? DaemonClient.forUri(o.connect, o.root) : DaemonClient.forRoot(o.root);
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
    const payload = JSON.stringify(body ?? {});
    const send: Send = this.transport === 'tls' ? (await import('node:https')).request : httpRequest;
    return new Promise((resolve, reject) => {
      let stopped = false;
      const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
      const req = send({ ...this.target, method, path, headers, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        if ((res.statusCode ?? 500) >= 400) {
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            let parsed: { error?: string; kind?: ErrorKind } = {};
            try {
              parsed = JSON.parse(text) as typeof parsed;
            } catch {
              // the status says enough
            }
            reject(
              new VirtwallError(parsed.kind ?? 'operation-failed', parsed.error ?? `daemon replied ${res.statusCode}`),
            );
          });
          return;
        }
        res.on('data', (d: string) => {
          const lines = (text + d).split('\n');
          text = lines.pop()!;
          for (const line of lines) if (line.trim() !== '') onObject(JSON.parse(line) as Record<string, unknown>);
        });
        res.on('end', () => resolve());
        res.on('close', () => resolve());
      });
      req.on('error', (err) =>
        stopped
          ? resolve()
          : reject(
              new VirtwallError('operation-failed', `daemon at ${this.address}: ${method} ${path}: ${err.message}`),
            ),
      );
      started(() => {
        stopped = true;
        req.destroy();
        resolve();
      });
      req.end(payload);
    });
  }

  async call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = JSON.stringify(body ?? {});
    const send: Send = this.transport === 'tls' ? (await import('node:https')).request : httpRequest;
    return new Promise((resolve, reject) => {
      let connected = false;
      const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
      const req = send({ ...this.target, method, path, headers, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => {
          let parsed: { error?: string; kind?: ErrorKind };
          try {
            parsed = JSON.parse(text) as typeof parsed;
          } catch {
            return reject(new VirtwallError('operation-failed', `daemon sent an unreadable reply (${res.statusCode})`));
          }
          if ((res.statusCode ?? 500) >= 400)
            return reject(
              new VirtwallError(parsed.kind ?? 'operation-failed', parsed.error ?? `daemon replied ${res.statusCode}`),
            );
          resolve(parsed as T);
        });
      });
      req.on('socket', (s) => s.once(this.transport === 'tls' ? 'secureConnect' : 'connect', () => (connected = true)));
      req.on('error', (err) =>
        reject(
          new VirtwallError(
            'operation-failed',
            connected
              ? `the daemon at ${this.address} closed the connection before answering ${method} ${path} (it may have stopped or died; see its log): ${err.message}`
              : `failed to connect to the daemon at ${this.address}: ${err.message}`,
          ),
        ),
      );
      req.end(payload);
    });
  }
}

/** A path segment carrying a name (encoded: names never add path components). */
export const seg = (s: string): string => encodeURIComponent(s);

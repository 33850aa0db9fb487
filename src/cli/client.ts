// The CLI's side of the daemon API: one JSON request over the Unix socket of a state root.
// Errors come back with the daemon's error kind, so exit codes match a local failure.
import { request } from 'node:http';
import type { Command } from 'commander';
import { VirtwallError, type ErrorKind } from '../errors.js';
import { stateLayout } from '../daemon/layout.js';

export class DaemonClient {
  constructor(readonly socket: string) {}

  static forRoot(root: string): DaemonClient {
    return new DaemonClient(stateLayout(root).socket);
  }

  /** The client of the `--root` given to the program. */
  static of(cmd: Command): DaemonClient {
    return DaemonClient.forRoot((cmd.optsWithGlobals() as { root: string }).root);
  }

  call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socket, method, path, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => {
          let parsed: { error?: string; kind?: ErrorKind };
          try {
            parsed = JSON.parse(text) as typeof parsed;
          } catch {
            return reject(new VirtwallError('operation-failed', `daemon sent an unreadable reply (${res.statusCode})`));
          }
          if ((res.statusCode ?? 500) >= 400) return reject(new VirtwallError(parsed.kind ?? 'operation-failed', parsed.error ?? `daemon replied ${res.statusCode}`));
          resolve(parsed as T);
        });
      });
      req.on('error', (err) => reject(new VirtwallError('operation-failed', `failed to connect to the daemon at ${this.socket}: ${err.message}`)));
      req.end(payload);
    });
  }
}

/** A path segment carrying a name (encoded: names never add path components). */
export const seg = (s: string): string => encodeURIComponent(s);

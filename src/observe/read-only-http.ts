// Who may read the metrics and the dashboard: a plain HTTP listener that only answers GET and
// HEAD, only for a Host that is an address literal or `localhost` with the listener's port (a
// page that re-binds its own DNS name to 127.0.0.1 still sends that name: refused), and never
// a request another site's page makes (Origin or Sec-Fetch-Site naming another site). Nothing
// served here changes anything or holds a secret.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';

export class RefusedRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The Host header's name and port (`[::1]:9465` -> `::1`, 9465); undefined when malformed. */
function hostOf(host: string): { name: string; port: number | undefined } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(host);
  if (!m) return undefined;
  return { name: (m[1] ?? m[2]!).toLowerCase(), port: m[3] === undefined ? undefined : Number(m[3]) };
}

/** Throws RefusedRequest unless a same-site reader asks for `listenPort`'s content. */
export function checkReadOnly(req: IncomingMessage, listenPort: number): void {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    throw new RefusedRequest(405, 'read-only: only GET and HEAD are served');
  const host = hostOf(req.headers.host ?? '');
  if (!host || (isIP(host.name) === 0 && host.name !== 'localhost') || (host.port ?? 80) !== listenPort) {
    throw new RefusedRequest(421, "the Host header must be an IP address or localhost with this listener's port");
  }
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    throw new RefusedRequest(403, "requests from other sites' pages are refused");
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host}`)
    throw new RefusedRequest(403, 'requests from other origins are refused');
}

/** Headers of every answer: no framing, no sniffing, no use by other origins, nothing cached. */
export const SAFE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
} as const;

/** Serves `routes` (path -> handler) read-only; anything else is 404. */
export function readOnlyHandler(
  listenPort: number,
  routes: ReadonlyMap<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>>,
  onError: (err: Error) => void,
) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const refuse = (status: number, message: string) => {
      res.writeHead(status, { ...SAFE_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${message}\n`);
    };
    try {
      checkReadOnly(req, listenPort);
    } catch (err) {
      refuse((err as RefusedRequest).status, (err as Error).message);
      return;
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const handle = routes.get(path);
    if (!handle) {
      refuse(404, 'not found');
      return;
    }
    Promise.resolve(handle(req, res)).catch((err: Error) => {
      onError(err);
      if (!res.headersSent) refuse(500, 'internal error');
      else res.end();
    });
  };
}

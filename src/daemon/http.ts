// The daemon's API: JSON over HTTP (a Unix socket by default). Each route maps a request onto
// one Daemon operation; VirtwallError kinds become HTTP statuses, so the CLI can give back the
// same message and exit code as a local run.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { VirtwallError, invalidInput, type ErrorKind } from '../errors.js';
import * as z from '../util/zod.js';
import { UPDATE_COMMANDS, UPDATE_SECTIONS } from '../conf/network/update.js';
import type { Daemon } from './daemon.js';
import { decodeUtf8 } from '../xml/utf8.js';
import { checkDeviceName } from '../util/device-name.js';
import type { Tracer } from '../observe/trace/tracer.js';
import { MAX_FRAMES, MAX_MICROFLOW } from '../explain/packet.js';

export const STATUS_OF_KIND: Record<ErrorKind, number> = {
  'invalid-input': 400,
  'not-found': 404,
  conflict: 409,
  'operation-failed': 500,
  internal: 500,
};

/** The largest request body (a definition with its XML); larger ones get 413. */
export const MAX_BODY = 1 << 20;

/** A body field carrying a document (XML) and, optionally, the client's name for it (used in error locations). */
const DOCUMENT = z.strictObject({ xml: z.string(), file: z.optional(z.string()) });
const NONE = z.strictObject({});
const JOIN = z.strictObject({ prefer: z.optional(z.enum(['local', 'cluster'])) });
const PORT = z.strictObject({
  xml: z.string(),
  tap: z.string(),
  filter: z.nullish(
    z.strictObject({ name: z.string(), params: z._default(z.record(z.string(), z.array(z.string())), {}) }),
  ),
  macFilter: z._default(z.boolean(), false),
});
const EXPLAIN = z.strictObject({
  direction: z.enum(['in', 'out']),
  peer: z._default(z.enum(['port', 'host']), 'port'),
  packet: z.optional(z.string().check(z.maxLength(MAX_MICROFLOW))),
  frames: z.optional(z.array(z.string()).check(z.maxLength(MAX_FRAMES))),
});
const UPDATE = z.strictObject({
  command: z.enum(UPDATE_COMMANDS),
  section: z.enum(UPDATE_SECTIONS),
  parentIndex: z._default(z.int(), -1),
  xml: z.string(),
  live: z._default(z.boolean(), false),
  config: z._default(z.boolean(), false),
});

const TRACE = z.strictObject({
  ports: z._default(z.array(z.string()), []),
  verdict: z.optional(z.enum(['accept', 'drop'])),
  count: z.optional(z.int().check(z.positive())),
});

/** Why a daemon without a tracer cannot trace (the ebiptables backend; checked on this kernel). */
const NO_TRACE_EBIPTABLES =
  'nwfilter-trace needs the nftables backend (nwfilter_backend = "nftables"). With ebiptables the rules are ' +
  'ebtables-nft and iptables-nft rules: nftables tracing sees them (table, libvirt chain such as libvirt-I-PORT ' +
  'or FI-PORT, rule handle, verdict), but they carry no origin of their own, so a decision could be tied to ' +
  'a port and a chain, not to the filter and rule of the XML; virtwall does not trace them';

/**
 * `POST /trace`: a live stream, one JSON object per line (NDJSON): first `{"tracing": [ports]}`,
 * then a TraceLine per decision, until the count is reached or the client goes away (its session
 * and, with the last one on a port, the port's tracing end then).
 */
async function traceStream(
  d: Daemon,
  tracer: Tracer | undefined,
  body: z.output<typeof TRACE>,
  res: ServerResponse,
): Promise<void> {
  if (!tracer) throw new VirtwallError('operation-failed', NO_TRACE_EBIPTABLES);
  const ports = body.ports.length
    ? [...new Set(body.ports.map((p) => d.bindings.get(checkDeviceName(p, 'port device')).portdev))]
    : d.bindings.list().map((b) => b.portdev);
  const send = (o: object) => {
    if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write(`${JSON.stringify(o)}\n`);
  };
  const close = await tracer.open({ ports, verdict: body.verdict, count: body.count }, send, () => res.end());
  res.once('close', () => void close());
  if (res.destroyed) return close();
  send({ tracing: ports });
}

interface Route {
  method: string;
  path: RegExp;
  body: z.ZodMiniType;
  handle(d: Daemon, params: string[], body: unknown, query: URLSearchParams): unknown;
}

/** A route: method, path pattern (segments captured as params), the schema of its body, handler. */
function route<S extends z.ZodMiniType>(
  method: string,
  path: RegExp,
  body: S,
  handle: (d: Daemon, params: string[], body: z.output<S>, query: URLSearchParams) => unknown,
): Route {
  return { method, path, body, handle: handle as Route['handle'] };
}

/** Every route; mutations are serialised. */
const ROUTES: Route[] = [
  route('GET', /^\/nwfilters$/, NONE, (d) => d.filters.list().map((f) => ({ name: f.name, uuid: f.uuid }))),
  route('GET', /^\/nwfilters\/([^/]+)$/, NONE, (d, [n]) => ({ name: d.filters.get(n!).name, xml: d.filterXml(n!) })),
  route('POST', /^\/nwfilters$/, DOCUMENT, (d, _, b) => d.serial(() => d.defineFilter(b.xml, b.file))),
  route('DELETE', /^\/nwfilters\/([^/]+)$/, NONE, (d, [n]) =>
    d.serial(async () => ({ name: await d.undefineFilter(n!) })),
  ),
  route('GET', /^\/bindings$/, NONE, (d) =>
    d.bindings.list().map((b) => ({ portdev: b.portdev, filter: b.filter, ...learningOf(d, b.portdev) })),
  ),
  route('GET', /^\/bindings\/([^/]+)$/, NONE, (d, [p]) => ({ xml: d.bindingXml(p!) })),
  route('GET', /^\/bindings\/([^/]+)\/learning$/, NONE, (d, [p]) => d.bindingLearning(p!)),
  route('POST', /^\/bindings\/([^/]+)\/explain$/, EXPLAIN, (d, [p], b) => d.serial(() => d.explainPacket(p!, b))),
  route('POST', /^\/bindings$/, DOCUMENT, (d, _, b) =>
    d.serial(async () => ({ portdev: await d.createBinding(b.xml, b.file) })),
  ),
  route('DELETE', /^\/bindings\/([^/]+)$/, NONE, (d, [p]) =>
    d.serial(async () => {
      await d.deleteBinding(p!);
      return { portdev: p };
    }),
  ),
  route('GET', /^\/networks$/, NONE, (d) => d.networks.list()),
  route('POST', /^\/networks$/, DOCUMENT, (d, _, b) =>
    d.serial(async () => ({ name: await d.networkDefine(b.xml, b.file) })),
  ),
  route('POST', /^\/networks\/create$/, DOCUMENT, (d, _, b) =>
    d.serial(async () => ({ name: await d.networkCreate(b.xml, b.file) })),
  ),
  route('GET', /^\/networks\/([^/]+)$/, NONE, (d, [n]) => d.networks.summary(d.networks.lookup(n!))),
  route('GET', /^\/networks\/([^/]+)\/xml$/, NONE, (d, [n], _, q) => ({
    xml: d.networkXml(n!, q.get('inactive') === '1'),
  })),
  route('DELETE', /^\/networks\/([^/]+)$/, NONE, (d, [n]) =>
    d.serial(async () => ({ name: await d.networkUndefine(n!) })),
  ),
  route('POST', /^\/networks\/([^/]+)\/start$/, NONE, (d, [n]) =>
    d.serial(async () => ({ name: await d.networkStart(n!) })),
  ),
  route('POST', /^\/networks\/([^/]+)\/destroy$/, NONE, (d, [n]) =>
    d.serial(async () => ({ name: await d.networkDestroy(n!) })),
  ),
  route('PUT', /^\/networks\/([^/]+)\/autostart$/, z.strictObject({ enabled: z.boolean() }), (d, [n], b) =>
    d.serial(() => ({ name: d.networks.setAutostart(n!, b.enabled) })),
  ),
  route('POST', /^\/networks\/([^/]+)\/update$/, UPDATE, (d, [n], b) =>
    d.serial(() => d.networkUpdate(n!, b.command, b.section, b.parentIndex, b.xml, { live: b.live, config: b.config })),
  ),
  route('GET', /^\/networks\/([^/]+)\/leases$/, NONE, (d, [n]) => ({ leases: d.networks.leases(n!) })),
  route('GET', /^\/networks\/([^/]+)\/ports$/, NONE, (d, [n]) =>
    d.ports.list(d.networks.lookup(n!).name).map((p) => ({
      uuid: p.uuid,
      tap: p.tap,
      filter: p.filter ?? null,
      macFilter: p.macFilter,
      ...(p.tap !== undefined ? learningOf(d, p.tap) : {}),
    })),
  ),
  route('POST', /^\/networks\/([^/]+)\/ports$/, PORT, (d, [n], b) =>
    d.serial(async () => ({
      uuid: await d.createPort({
        network: n!,
        xml: b.xml,
        tap: b.tap,
        filter: b.filter ?? undefined,
        macFilter: b.macFilter,
      }),
    })),
  ),
  route('GET', /^\/cluster$/, NONE, (d) => fleetOf(d).status()),
  route('POST', /^\/cluster\/join$/, JOIN, (d, _, b) => d.serial(() => fleetOf(d).join(b.prefer))),
  route('POST', /^\/cluster\/leave$/, NONE, (d) => d.serial(() => fleetOf(d).leave())),
  route('GET', /^\/ports\/([^/]+)$/, NONE, (d, [u]) => ({ xml: d.portXml(u!) })),
  route('DELETE', /^\/ports\/([^/]+)$/, NONE, (d, [u]) =>
    d.serial(async () => {
      await d.deletePort(u!);
      return { uuid: u };
    }),
  ),
];

/**
 * Only the CLI's kind of request is served: a browser page can make a "simple" cross-site
 * request (text/plain, form data) to any address, but it cannot send application/json without
 * asking first, and it always names its page in Origin; no client of ours sends Origin.
 */
function checkClient(req: IncomingMessage): void {
  if (req.headers.origin !== undefined || req.headers['sec-fetch-site'] !== undefined)
    throw new HttpError(403, 'requests from web pages are refused');
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new HttpError(415, "requests must have content-type 'application/json'");
}

/** Path segments, decoded; a malformed percent-escape is the client's error. */
function decodeParams(found: RegExpExecArray): string[] {
  try {
    return found.slice(1).map((p) => decodeURIComponent(p));
  } catch {
    throw new HttpError(400, `malformed percent-escape in the path '${found[0]}'`);
  }
}

/** The body as its route's schema takes it; any other shape or type is refused, naming the field. */
function checkBody(schema: z.ZodMiniType, body: unknown): unknown {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.join('.');
  throw invalidInput(`invalid request body${field ? ` field '${field}'` : ''}: ${issue.message}`);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  // an oversized body is read to its end (not kept), so the client gets the 413 instead of a reset
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY) chunks.push(chunk as Buffer);
  }
  if (size > MAX_BODY) throw new HttpError(413, 'request body too large');
  if (size === 0) return {};
  let parsed: unknown;
  try {
    // not toString('utf8'): invalid UTF-8 in an XML field must reach the XML reader as such
    parsed = JSON.parse(decodeUtf8(Buffer.concat(chunks)));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new HttpError(400, 'request body must be a JSON object');
  return parsed;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A route's name in metrics: method and path with `{}` for its parameters (`POST /networks/{}/start`). */
const routeName = (r: Route) =>
  `${r.method} ${r.path.source
    .replace(/^\^|\$$/g, '')
    .replace(/\(\[\^\/\]\+\)/g, '{}')
    .replace(/\\\//g, '/')}`;

export function apiHandler(
  daemon: Daemon,
  log: Logger,
  tracer?: Tracer,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const t0 = performance.now();
    let command = 'unknown';
    const reply = (status: number, body: unknown, outcome: string) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      daemon.telemetry.request('http', command, outcome, (performance.now() - t0) / 1000);
    };
    void (async () => {
      checkClient(req);
      const url = new URL(req.url ?? '/', 'http://virtwall');
      if (url.pathname === '/trace' && req.method === 'POST') {
        command = 'POST /trace';
        return traceStream(daemon, tracer, checkBody(TRACE, await readBody(req)) as z.output<typeof TRACE>, res);
      }
      const matches = ROUTES.map((r) => [r, r.path.exec(url.pathname)] as const).filter(([, found]) => found);
      const found = matches.find(([r]) => r.method === req.method);
      if (!found) throw new HttpError(matches.length ? 405 : 404, `no route for ${req.method} ${url.pathname}`);
      const [route, match] = found;
      command = routeName(route);
      const params = decodeParams(match!);
      const body = checkBody(route.body, await readBody(req));
      return route.handle(daemon, params, body, url.searchParams);
    })().then(
      // a stream wrote its own answer
      (result) => (res.headersSent ? undefined : reply(200, result ?? {}, 'ok')),
      (err: unknown) => {
        if (err instanceof HttpError)
          return reply(err.status, { error: err.message, kind: 'invalid-input' }, `http-${err.status}`);
        if (err instanceof VirtwallError) {
          const status = STATUS_OF_KIND[err.kind];
          (status >= 500 ? log.error : log.info).call(
            log,
            { method: req.method, url: req.url, err: err.message },
            'request failed',
          );
          return reply(status, { error: err.message, kind: err.kind }, err.kind);
        }
        log.error({ method: req.method, url: req.url, err: (err as Error).stack }, 'internal error');
        reply(500, { error: `internal error: ${(err as Error).message}`, kind: 'internal' }, 'internal');
      },
    );
  };
}

/** A learning port's addresses and how they were learned, for the JSON listings. */
function learningOf(d: Daemon, port: string): { ipLearning?: object } {
  const learning = d.learning.json(port);
  return learning ? { ipLearning: learning } : {};
}

/** The daemon's fleet (src/fleet); the cluster routes fail clearly while etcd_endpoints is unset. */
function fleetOf(d: Daemon): NonNullable<Daemon['fleet']> {
  if (!d.fleet)
    throw new VirtwallError('operation-failed', 'this host is not configured for a fleet: etcd_endpoints is not set');
  return d.fleet;
}

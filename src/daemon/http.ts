// The daemon's API: JSON over HTTP (a Unix socket by default). Each route maps a request onto
// one Daemon operation; VirtwallError kinds become HTTP statuses, so the CLI can give back the
// same message and exit code as a local run.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { VirtwallError, invalidInput, type ErrorKind } from '../errors.js';
import { UPDATE_COMMANDS, UPDATE_SECTIONS, type UpdateCommand, type UpdateSection } from '../conf/network/update.js';
import type { Daemon } from './daemon.js';
import type { PortRequest } from './ports.js';
import { decodeUtf8 } from '../xml/utf8.js';

export const STATUS_OF_KIND: Record<ErrorKind, number> = {
  'invalid-input': 400,
  'not-found': 404,
  conflict: 409,
  'operation-failed': 500,
  internal: 500,
};

const MAX_BODY = 1 << 20;

type Body = Record<string, unknown>;
type Handler = (d: Daemon, params: string[], body: Body, query: URLSearchParams) => unknown;

const str = (body: Body, key: string): string => {
  const v = body[key];
  if (typeof v !== 'string') throw invalidInput(`request field '${key}' must be a string`);
  return v;
};

/** Routes: method, path pattern (segments captured as params), handler; mutations are serialised. */
const ROUTES: [string, RegExp, Handler][] = [
  ['GET', /^\/nwfilters$/, (d) => d.filters.list().map((f) => ({ name: f.name, uuid: f.uuid }))],
  ['GET', /^\/nwfilters\/([^/]+)$/, (d, [n]) => ({ name: d.filters.get(n!).name, xml: d.filterXml(n!) })],
  ['POST', /^\/nwfilters$/, (d, _, b) => d.serial(() => d.defineFilter(str(b, 'xml'), fileOf(b)))],
  ['DELETE', /^\/nwfilters\/([^/]+)$/, (d, [n]) => d.serial(() => ({ name: d.undefineFilter(n!) }))],
  ['GET', /^\/bindings$/, (d) => d.bindings.list().map((b) => ({ portdev: b.portdev, filter: b.filter, ...learningOf(d, b.portdev) }))],
  ['GET', /^\/bindings\/([^/]+)$/, (d, [p]) => ({ xml: d.bindingXml(p!) })],
  ['GET', /^\/bindings\/([^/]+)\/learning$/, (d, [p]) => d.bindingLearning(p!)],
  ['POST', /^\/bindings$/, (d, _, b) => d.serial(async () => ({ portdev: await d.createBinding(str(b, 'xml'), fileOf(b)) }))],
  ['DELETE', /^\/bindings\/([^/]+)$/, (d, [p]) => d.serial(async () => ({ portdev: (await d.deleteBinding(p!), p) }))],
  ['GET', /^\/networks$/, (d) => d.networks.list()],
  ['POST', /^\/networks$/, (d, _, b) => d.serial(async () => ({ name: await d.networkDefine(str(b, 'xml'), fileOf(b)) }))],
  ['POST', /^\/networks\/create$/, (d, _, b) => d.serial(async () => ({ name: await d.networkCreate(str(b, 'xml'), fileOf(b)) }))],
  ['GET', /^\/networks\/([^/]+)$/, (d, [n]) => d.networks.summary(d.networks.lookup(n!))],
  ['GET', /^\/networks\/([^/]+)\/xml$/, (d, [n], _, q) => ({ xml: d.networkXml(n!, q.get('inactive') === '1') })],
  ['DELETE', /^\/networks\/([^/]+)$/, (d, [n]) => d.serial(() => ({ name: d.networkUndefine(n!) }))],
  ['POST', /^\/networks\/([^/]+)\/start$/, (d, [n]) => d.serial(async () => ({ name: await d.networkStart(n!) }))],
  ['POST', /^\/networks\/([^/]+)\/destroy$/, (d, [n]) => d.serial(async () => ({ name: await d.networkDestroy(n!) }))],
  ['PUT', /^\/networks\/([^/]+)\/autostart$/, (d, [n], b) => d.serial(() => ({ name: d.networks.setAutostart(n!, b['enabled'] === true) }))],
  ['POST', /^\/networks\/([^/]+)\/update$/, (d, [n], b) => d.serial(() => d.networkUpdate(n!, oneOf(b, 'command', UPDATE_COMMANDS) as UpdateCommand, oneOf(b, 'section', UPDATE_SECTIONS) as UpdateSection, parentIndex(b), str(b, 'xml'), { live: b['live'] === true, config: b['config'] === true }))],
  ['GET', /^\/networks\/([^/]+)\/leases$/, (d, [n]) => ({ leases: d.networks.leases(n!) })],
  ['GET', /^\/networks\/([^/]+)\/ports$/, (d, [n]) => d.ports.list(d.networks.lookup(n!).name).map((p) => ({ uuid: p.uuid, tap: p.tap, filter: p.filter ?? null, macFilter: p.macFilter, ...(p.tap !== undefined ? learningOf(d, p.tap) : {}) }))],
  ['POST', /^\/networks\/([^/]+)\/ports$/, (d, [n], b) => d.serial(async () => ({ uuid: await d.createPort(portRequest(n!, b)) }))],
  ['GET', /^\/ports\/([^/]+)$/, (d, [u]) => ({ xml: d.portXml(u!) })],
  ['DELETE', /^\/ports\/([^/]+)$/, (d, [u]) => d.serial(async () => ({ uuid: (await d.deletePort(u!), u) }))],
];

/** The client's name for the document, used in error locations. */
const fileOf = (b: Body): string | undefined => (typeof b['file'] === 'string' ? b['file'] : undefined);

function oneOf(b: Body, key: string, allowed: readonly string[]): string {
  const v = str(b, key);
  if (!allowed.includes(v)) throw invalidInput(`request field '${key}' must be one of ${allowed.join(', ')}`);
  return v;
}

function parentIndex(b: Body): number {
  const v = b['parentIndex'] ?? -1;
  if (!Number.isInteger(v)) throw invalidInput(`request field 'parentIndex' must be an integer`);
  return v as number;
}

function portRequest(network: string, b: Body): PortRequest {
  const filter = b['filter'];
  let parsed: PortRequest['filter'];
  if (filter !== undefined && filter !== null) {
    const f = filter as Body;
    const params = (f['params'] ?? {}) as Record<string, unknown>;
    if (typeof params !== 'object' || Object.values(params).some((v) => !Array.isArray(v) || v.some((x) => typeof x !== 'string'))) {
      throw invalidInput(`request field 'filter.params' must map names to lists of strings`);
    }
    parsed = { name: str(f, 'name'), params: params as Record<string, string[]> };
  }
  return { network, xml: str(b, 'xml'), tap: str(b, 'tap'), filter: parsed, macFilter: b['macFilter'] === true };
}

async function readBody(req: IncomingMessage): Promise<Body> {
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
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'request body must be a JSON object');
  return parsed as Body;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export function apiHandler(daemon: Daemon, log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://virtwall');
      const matches = ROUTES.map(([m, re, h]) => [m, re.exec(url.pathname), h] as const).filter(([, found]) => found);
      const route = matches.find(([m]) => m === req.method);
      if (!route) throw new HttpError(matches.length ? 405 : 404, `no route for ${req.method} ${url.pathname}`);
      const params = route[1]!.slice(1).map((p) => decodeURIComponent(p));
      const body = await readBody(req);
      return route[2](daemon, params, body, url.searchParams);
    })().then(
      (result) => reply(200, result ?? {}),
      (err: unknown) => {
        if (err instanceof HttpError) return reply(err.status, { error: err.message, kind: 'invalid-input' });
        if (err instanceof VirtwallError) {
          const status = STATUS_OF_KIND[err.kind];
          (status >= 500 ? log.error : log.info).call(log, { method: req.method, url: req.url, err: err.message }, 'request failed');
          return reply(status, { error: err.message, kind: err.kind });
        }
        log.error({ method: req.method, url: req.url, err: (err as Error).stack }, 'internal error');
        reply(500, { error: `internal error: ${(err as Error).message}`, kind: 'internal' });
      },
    );
  };
}

/** A learning port's addresses and how they were learned, for the JSON listings. */
function learningOf(d: Daemon, port: string): { ipLearning?: object } {
  const learning = d.learning.json(port);
  return learning ? { ipLearning: learning } : {};
}

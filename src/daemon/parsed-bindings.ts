// The binding records as the daemon parsed them, kept across restarts in
// DIR/run/virtwall/nwfilter-binding.parsed.json by the sha256 of each record's path and bytes. A
// start still reads every record (the records are the truth), but parses only those whose path
// and bytes it has not parsed before: a thousand records cost a cold process 60-90 ms through the
// XML reader and about half that through this file. It is a cache: read only when written by the
// same code (util/code-version.ts); a corrupt one, or one holding a definition the parser could
// not have made, is set aside and logged (util/state-file.ts) and every record is parsed.
import { createHash } from 'node:crypto';
import type { FilterBindingDef } from '../conf/nwfilterbinding/index.js';
import { VALID_PARAM_NAME, VALID_PARAM_VALUE } from '../conf/nwfilter/params.js';
import { parseUuid } from '../conf/uuid.js';
import { formatMac, parseMac } from '../util/address.js';
import { codeVersion } from '../util/code-version.js';
import { isDeviceName } from '../util/device-name.js';
import { readState, writeFileAtomic } from '../util/state-file.js';
import type { SourceLocation } from '../errors.js';

/**
 * What may stand in a kept field: undefined when `v` is allowed, else what it should be. A table
 * of plain checks, not a schema: zod took 140 ms for 10,000 definitions, a tenth of a restart.
 */
type Check = (v: unknown) => string | undefined;
const isText = (v: unknown): v is string => typeof v === 'string';
const text =
  (ok: (s: string) => boolean, what: string): Check =>
  (v) =>
    isText(v) && ok(v) ? undefined : what;
const string = text(() => true, 'a string');
const nonEmpty = text((s) => s.length > 0, 'a non-empty string');
const integer: Check = (v) => (Number.isSafeInteger(v) ? undefined : 'an integer');

/** An object with `fields` (those marked required present) and no other key. */
function object(fields: Record<string, [Check, 'required'?]>): Check {
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'an object';
    for (const k of Object.keys(v)) if (!Object.hasOwn(fields, k)) return `no field '${k}'`;
    for (const [k, [check, required]] of Object.entries(fields)) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined && !required) continue;
      const wrong = x === undefined ? 'present' : check(x);
      if (wrong !== undefined) return `'${k}': ${wrong}`;
    }
    return undefined;
  };
}

const LOCATION = object({ file: [string], line: [integer], col: [integer], element: [string], attribute: [string] });

/** A parameter: its name and one or more values, as the parser allows them. */
const PARAMETER: Check = (v) => {
  if (!Array.isArray(v) || v.length !== 2) return 'a [name, values] pair';
  const [name, values] = v as unknown[];
  if (!isText(name) || !VALID_PARAM_NAME.test(name)) return 'a parameter name';
  if (!Array.isArray(values) || values.length === 0) return 'a list of values';
  return values.every((x) => isText(x) && VALID_PARAM_VALUE.test(x)) ? undefined : 'parameter values';
};

/** A definition as parseFilterBinding makes one: canonical MAC and UUID, valid device and parameter names. */
const DEFINITION = object({
  owner: [
    object({
      name: [nonEmpty, 'required'],
      uuid: [text((u) => parseUuid(u) === u, 'a canonical UUID'), 'required'],
    }),
    'required',
  ],
  portdev: [text(isDeviceName, 'a device name'), 'required'],
  linkdev: [nonEmpty],
  mac: [
    text((m) => {
      const bytes = parseMac(m);
      return bytes !== undefined && formatMac(bytes) === m;
    }, 'a canonical MAC address'),
    'required',
  ],
  filter: [nonEmpty, 'required'],
  /** The parameters in their order, each with its values. */
  params: [(v) => (Array.isArray(v) ? v.map(PARAMETER).find((w) => w !== undefined) : 'a list'), 'required'],
  source: [LOCATION],
  refSource: [LOCATION],
});

interface KeptDefinition {
  owner: { name: string; uuid: string };
  portdev: string;
  linkdev?: string;
  mac: string;
  filter: string;
  params: [string, string[]][];
  source?: SourceLocation;
  refSource?: SourceLocation;
}

/** The kept file's definitions by recordKey(), each checked (DEFINITION); throws naming the first that does not fit. */
function keptRecords(json: { code?: unknown; records?: unknown }): Record<string, KeptDefinition> {
  const { records, ...rest } = json;
  const extra = Object.keys(rest).find((k) => k !== 'code');
  if (extra !== undefined) throw new Error(`no field '${extra}'`);
  if (typeof records !== 'object' || records === null || Array.isArray(records))
    throw new Error("field 'records': an object");
  for (const [key, def] of Object.entries(records)) {
    const wrong = DEFINITION(def);
    if (wrong !== undefined) throw new Error(`field 'records.${key}': ${wrong}`);
  }
  return records as Record<string, KeptDefinition>;
}

/** The key of a record: its path (definitions point at it) and its bytes. */
export const recordKey = (file: string, text: string): string =>
  createHash('sha256').update(file).update('\0').update(text).digest('hex');

/** The definitions kept by `file`, by recordKey(); empty when missing, corrupt (set aside) or from other code. */
export function loadParsedBindings(file: string): Map<string, FilterBindingDef> {
  const kept = readState(file, (text) => {
    const json = JSON.parse(text) as { code?: unknown } | null;
    // another code's file is stale, whatever its form: only ours is checked (and may be corrupt)
    if (json?.code !== codeVersion()) return undefined;
    return keptRecords(json);
  });
  // the parser's shapes (locationOf names every field), so a kept definition equals a parsed one
  const location = (l: SourceLocation | undefined) =>
    l && { file: l.file, line: l.line, col: l.col, element: l.element, attribute: l.attribute };
  const out = new Map<string, FilterBindingDef>();
  for (const [key, { owner, portdev, linkdev, mac, filter, params, source, refSource }] of Object.entries(kept ?? {}))
    out.set(key, {
      owner,
      portdev,
      linkdev,
      mac,
      filter,
      params: new Map(params),
      source: location(source),
      refSource: location(refSource),
    });
  return out;
}

export function saveParsedBindings(file: string, records: ReadonlyMap<string, FilterBindingDef>): void {
  const stored: { code: string; records: Record<string, KeptDefinition> } = { code: codeVersion(), records: {} };
  for (const [key, def] of records)
    stored.records[key] = { ...def, params: [...def.params].map(([name, values]) => [name, [...values]]) };
  writeFileAtomic(file, JSON.stringify(stored), 0o600);
}

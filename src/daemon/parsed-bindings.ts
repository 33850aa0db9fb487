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
import { z } from '../util/zod.js';

const LOCATION = z.optional(
  z.strictObject({
    file: z.optional(z.string()),
    line: z.optional(z.int()),
    col: z.optional(z.int()),
    element: z.optional(z.string()),
    attribute: z.optional(z.string()),
  }),
);

/** A definition as parseFilterBinding makes one: canonical MAC and UUID, valid device and parameter names. */
const DEFINITION = z.strictObject({
  owner: z.strictObject({
    name: z.string().check(z.minLength(1)),
    uuid: z.string().check(z.refine((u) => parseUuid(u) === u, 'not a canonical UUID')),
  }),
  portdev: z.string().check(z.refine(isDeviceName, 'not a device name')),
  linkdev: z.optional(z.string().check(z.minLength(1))),
  mac: z.string().check(
    z.refine((m) => {
      const bytes = parseMac(m);
      return bytes !== undefined && formatMac(bytes) === m;
    }, 'not a canonical MAC address'),
  ),
  filter: z.string().check(z.minLength(1)),
  /** The parameters in their order, each with its values. */
  params: z.array(
    z.tuple([
      z.string().check(z.regex(VALID_PARAM_NAME)),
      z.array(z.string().check(z.regex(VALID_PARAM_VALUE))).check(z.minLength(1)),
    ]),
  ),
  source: LOCATION,
  refSource: LOCATION,
});

const PARSED_FILE = z.strictObject({
  code: z.string(),
  /** Definitions by recordKey(). */
  records: z.record(z.string(), DEFINITION),
});

/** The key of a record: its path (definitions point at it) and its bytes. */
export const recordKey = (file: string, text: string): string =>
  createHash('sha256').update(file).update('\0').update(text).digest('hex');

/** The definitions kept by `file`, by recordKey(); empty when missing, corrupt (set aside) or from other code. */
export function loadParsedBindings(file: string): Map<string, FilterBindingDef> {
  const kept = readState(file, (text) => {
    const json = JSON.parse(text) as { code?: unknown } | null;
    // another code's file is stale, whatever its form: only ours is checked (and may be corrupt)
    if (json?.code !== codeVersion()) return undefined;
    return PARSED_FILE.parse(json).records;
  });
  // the parser's shapes (locationOf names every field), so a kept definition equals a parsed one
  const location = (l: z.output<typeof LOCATION>) =>
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
  const stored: z.output<typeof PARSED_FILE> = { code: codeVersion(), records: {} };
  for (const [key, def] of records)
    stored.records[key] = { ...def, params: [...def.params].map(([name, values]) => [name, [...values]]) };
  writeFileAtomic(file, JSON.stringify(stored), 0o600);
}

// The equivalence scenarios (scenarios/*.json): a filter, frames and TCP flows, each with the
// verdict libvirt's semantics give; read with the lab's addresses in place of their names.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { NwfilterBackendName } from '../../src/nwfilter/backend.js';
import { IP, IP6, MAC, type Side } from './lab.js';

export const SCENARIOS = resolve('test/nwfilter/scenarios');

export type ScenarioFrame = { marker: string; from: Side; expect: Partial<Record<Side, number>> } & Record<
  string,
  unknown
>;

export interface Scenario {
  about: string;
  filter: string;
  xml?: string;
  params: Record<string, string[]>;
  frames: ScenarioFrame[];
  /** TCP connections to `port`, or pings without one. */
  flows: { from: Side; to: Side; port?: number; v6?: boolean; expect: boolean }[];
  /**
   * Host tool defects that change one backend's verdicts, by quirk name: what that backend
   * gives instead, applied only when the quirk is detected on this host (see hostQuirks).
   */
  quirks?: Record<string, { why: string } & Partial<Record<NwfilterBackendName, Record<string, number | boolean>>>>;
}

const ADDRESS: Record<string, Record<string, string>> = { mac: MAC, ip: IP, ip6: IP6 };

/** Scenario values name the lab's addresses: `mac:a`, `ip:b`, `ip6:host`, `bcast`, `zero`. */
function resolveValue(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  if (v === 'bcast') return 'ff:ff:ff:ff:ff:ff';
  if (v === 'zero') return '00:00:00:00:00:00';
  const m = /^(mac|ip|ip6):(\w+)$/.exec(v);
  return m ? ADDRESS[m[1]!]![m[2]!] : v;
}

export function loadScenario(file: string): Scenario {
  const raw = JSON.parse(readFileSync(join(SCENARIOS, file), 'utf8')) as Scenario;
  const frames = raw.frames.map(
    (f) =>
      Object.fromEntries(Object.entries(f).map(([k, v]) => [k, k === 'expect' ? v : resolveValue(v)])) as ScenarioFrame,
  );
  const params = Object.fromEntries(
    Object.entries(raw.params).map(([k, vs]) => [k, vs.map((v) => resolveValue(v) as string)]),
  );
  return { ...raw, frames, params };
}

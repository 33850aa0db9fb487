// The equivalence scenarios (scenarios/*.json): a filter, frames and TCP flows, each with the
// verdict libvirt's semantics give; read with the lab's addresses in place of their names.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { NwfilterBackendName } from '../../src/nwfilter/backend.js';
import { IP, IP6, MAC, type Frame, type Net, type Side } from './lab.js';

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

/**
 * Quirks of this host's tools. `ebtables-user-chain-accepts`: ebtables-nft (1.8.9 here) gives a
 * new user-defined chain a trailing `accept` rule, so falling off a libvirt sub-chain accepts
 * the frame where ebtables semantics (chain policy RETURN) go back to the root chain.
 */
export function hostQuirks(net: Net): Set<string> {
  const found = new Set<string>();
  net.lab.exec(net.ns.host, ['ebtables', '-t', 'nat', '-N', 'vwt-quirk']);
  const listed = net.lab.exec(net.ns.host, ['nft', 'list', 'chain', 'bridge', 'nat', 'vwt-quirk'], false).stdout;
  if (/\baccept\b/.test(listed)) found.add('ebtables-user-chain-accepts');
  net.lab.exec(net.ns.host, ['ebtables', '-t', 'nat', '-X', 'vwt-quirk']);
  return found;
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

/**
 * The corpus filter, then everything else dropped: at the IP layer for filters of IP rules only,
 * else at the Ethernet layer (a drop there would hide what the IP rules decide).
 */
export const wrapper = (name: string, l3Only: boolean) => `<filter name='vwt-wrap' chain='root'>
  <filterref filter='${name}'/>
  ${l3Only ? "<rule action='drop' direction='inout' priority='1000'><all/></rule><rule action='drop' direction='inout' priority='1000'><all-ipv6/></rule>" : "<rule action='drop' direction='inout' priority='1000'/>"}
</filter>`;

/** A mixed battery: addresses the corpus filters use (1.1.1.1, 10.1.2.3, ...) and ordinary traffic. */
export const BATTERY: Frame[] = [
  { kind: 'ipv4', marker: 'ip', src_mac: MAC.a, dst_mac: MAC.b, src_ip: IP.a, dst_ip: IP.b },
  {
    kind: 'ipv4',
    marker: 'ip-1111',
    src_mac: MAC.a,
    dst_mac: MAC.b,
    src_ip: '1.1.1.1',
    dst_ip: '2.2.2.2',
    sport: 80,
    dport: 1080,
  },
  {
    kind: 'ipv4',
    marker: 'ip-10123',
    src_mac: MAC.a,
    dst_mac: MAC.b,
    src_ip: '10.1.2.3',
    dst_ip: '10.1.2.3',
    sport: 20,
    dport: 100,
  },
  {
    kind: 'ipv4',
    marker: 'tcp-80',
    src_mac: MAC.a,
    dst_mac: MAC.b,
    src_ip: IP.a,
    dst_ip: IP.b,
    proto: 6,
    sport: 80,
    dport: 80,
  },
  { kind: 'ipv4', marker: 'icmp', src_mac: MAC.a, dst_mac: MAC.b, src_ip: IP.a, dst_ip: IP.b, proto: 1 },
  { kind: 'ipv4', marker: 'bcast', src_mac: MAC.a, dst_mac: 'ff:ff:ff:ff:ff:ff', src_ip: IP.a, dst_ip: '10.99.0.255' },
  { kind: 'ipv4', marker: 'mcast', src_mac: MAC.a, dst_mac: '01:00:5e:00:00:fb', src_ip: IP.a, dst_ip: '224.0.0.251' },
  { kind: 'ipv6', marker: 'ip6', src_mac: MAC.a, dst_mac: MAC.b, src_ip: IP6.a, dst_ip: IP6.b },
  {
    kind: 'ipv6',
    marker: 'ip6-range',
    src_mac: MAC.a,
    dst_mac: MAC.b,
    src_ip: '1::2',
    dst_ip: 'a:b:c::d:e:f',
    sport: 20,
    dport: 100,
  },
  {
    kind: 'arp',
    marker: 'arp',
    op: 1,
    src_mac: MAC.a,
    dst_mac: 'ff:ff:ff:ff:ff:ff',
    sha: MAC.a,
    spa: IP.a,
    tha: '00:00:00:00:00:00',
    tpa: IP.b,
  },
  {
    kind: 'arp',
    marker: 'arp-10123',
    op: 1,
    src_mac: MAC.a,
    dst_mac: 'ff:ff:ff:ff:ff:ff',
    sha: '01:02:03:04:05:06',
    spa: '10.0.0.1',
    tha: '0a:0b:0c:0d:0e:0f',
    tpa: '10.1.2.3',
  },
  {
    kind: 'rarp',
    marker: 'rarp',
    op: 3,
    src_mac: MAC.a,
    dst_mac: 'ff:ff:ff:ff:ff:ff',
    sha: MAC.a,
    spa: '0.0.0.0',
    tha: MAC.a,
    tpa: '0.0.0.0',
  },
  { kind: 'raw', marker: 'other-l2', src_mac: MAC.a, dst_mac: MAC.b, ethertype: '88b5' },
  { kind: 'raw', marker: 'mac-1234', src_mac: '01:02:03:04:05:06', dst_mac: 'aa:bb:cc:dd:ee:ff', ethertype: '1234' },
  { kind: 'ipv4', marker: 'vlan', vlan: 291, src_mac: MAC.a, dst_mac: MAC.b, src_ip: IP.a, dst_ip: IP.b },
  {
    kind: 'arp',
    marker: 'arp-123456',
    op: 1,
    src_mac: '01:02:03:04:05:06',
    dst_mac: 'ff:ff:ff:ff:ff:ff',
    sha: '01:02:03:04:05:06',
    spa: '10.0.0.1',
    tha: '00:00:00:00:00:00',
    tpa: '10.1.2.3',
  },
  {
    kind: 'ipv4',
    marker: 'ip-aabb',
    src_mac: '01:02:03:04:05:06',
    dst_mac: 'aa:bb:cc:dd:ee:ff',
    src_ip: '10.1.2.3',
    dst_ip: '10.1.2.3',
    sport: 20,
    dport: 100,
    tos: 33 << 2,
  },
  {
    kind: 'ipv4',
    marker: 'ip-aabb-dscp2',
    src_mac: '01:02:03:04:05:06',
    dst_mac: 'aa:bb:cc:dd:ee:ff',
    src_ip: '10.1.2.3',
    dst_ip: '10.1.2.3',
    tos: 2 << 2,
  },
  {
    kind: 'ipv4',
    marker: 'ip-aabb-tcp',
    src_mac: '01:02:03:04:05:06',
    dst_mac: 'aa:bb:cc:dd:ee:ff',
    src_ip: '10.1.2.3',
    dst_ip: '10.1.2.3',
    proto: 6,
    sport: 255,
    dport: 65535,
    tos: 63 << 2,
  },
  {
    kind: 'ipv4',
    marker: 'ip-aabb-icmp',
    src_mac: '01:02:03:04:05:06',
    dst_mac: 'aa:bb:cc:dd:ee:ff',
    src_ip: '10.1.2.3',
    dst_ip: '10.1.2.3',
    proto: 1,
    sport: 12 * 256 + 11,
  },
  {
    kind: 'ipv6',
    marker: 'ip6-aabb',
    src_mac: '01:02:03:04:05:06',
    dst_mac: 'aa:bb:cc:dd:ee:ff',
    src_ip: '1::2',
    dst_ip: 'a:b:c::d:e:f',
    sport: 20,
    dport: 100,
  },
  {
    kind: 'ipv6',
    marker: 'ip6-aabb-tcp',
    src_mac: '01:02:03:04:05:06',
    dst_mac: 'aa:bb:cc:dd:ee:ff',
    src_ip: '1::2',
    dst_ip: 'a:b:c::d:e:f',
    proto: 6,
    sport: 20,
    dport: 100,
  },
  {
    kind: 'raw',
    marker: 'mac-aabb-0600',
    src_mac: '01:02:03:04:05:06',
    dst_mac: 'aa:bb:cc:dd:ee:ff',
    ethertype: '0600',
  },
];

// A bridged test network for nwfilter backends: namespace `host` with bridge br0, guests A and B
// attached by veth (host ends vnet0/vnet1 play the guests' TAP devices), crafted frames sent
// from one guest and counted on the other side (frames.py), TCP flows between real stacks.
import { once } from 'node:events';
import { resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { createNwfilterBackend } from '../../src/backends/nwfilter.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import { SystemRunner } from '../../src/exec/runner.js';
import type { NwfilterBackend, NwfilterBackendName, PortFilter } from '../../src/nwfilter/backend.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { chainSources, DirectoryFilterSource, MapFilterSource, type FilterSource } from '../../src/nwfilter/source.js';
import { CORPUS } from '../support/corpus.js';
import { NetnsLab } from '../support/netns.js';

export const FRAMES = resolve('test/nwfilter/frames.py');
export { CORPUS };

export const MAC = { a: '52:54:00:00:00:0a', b: '52:54:00:00:00:0b', host: '52:54:00:00:00:01', other: '52:54:00:00:00:99' };
export const IP = { a: '10.99.0.10', b: '10.99.0.11', host: '10.99.0.1', other: '10.99.0.99' };
export const IP6 = { a: 'fd99::10', b: 'fd99::11', host: 'fd99::1', other: 'fd99::99' };

export type Side = 'a' | 'b' | 'host';

export interface Net {
  lab: NetnsLab;
  ns: Record<Side, string>;
  ifname: Record<'a' | 'b', string>;
  runner: SystemRunner;
}

export function topology(t: TestContext): Net {
  const lab = new NetnsLab();
  t.after(() => lab.cleanup());
  const host = lab.netns('host');
  const a = lab.netns('a');
  const b = lab.netns('b');
  lab.bridge(host, 'br0');
  lab.exec(host, ['ip', 'link', 'set', 'br0', 'address', MAC.host]);
  lab.exec(host, ['ip', 'addr', 'add', `${IP.host}/24`, 'dev', 'br0']);
  lab.exec(host, ['ip', 'addr', 'add', `${IP6.host}/64`, 'dev', 'br0', 'nodad']);
  lab.exec(host, ['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1']);
  lab.veth(host, 'vnet0', a, 'eth0', { bridge: 'br0', mac: MAC.a });
  lab.veth(host, 'vnet1', b, 'eth0', { bridge: 'br0', mac: MAC.b });
  for (const [ns, side] of [[a, 'a'], [b, 'b']] as const) {
    lab.exec(ns, ['ip', 'addr', 'add', `${IP[side]}/24`, 'dev', 'eth0']);
    lab.exec(ns, ['ip', 'addr', 'add', `${IP6[side]}/64`, 'dev', 'eth0', 'nodad']);
  }
  return { lab, ns: { host, a, b }, ifname: { a: 'vnet0', b: 'vnet1' }, runner: new SystemRunner({ netns: host }) };
}

export function backendFor(name: NwfilterBackendName, net: Net): Promise<NwfilterBackend> {
  return createNwfilterBackend(net.runner, name);
}

/** Stock filters (the corpus copy), after `extra`. */
export function filterSource(...extra: FilterSource[]): FilterSource {
  return chainSources(...extra, new DirectoryFilterSource(resolve(CORPUS, 'filters'), (text, file) => parseFilter(text, file)));
}

export function portFilter(ifname: string, mac: string, filter: string, params: Record<string, string[]>, source: FilterSource): PortFilter {
  const binding = { portdev: ifname, mac, filter, params: new Map(Object.entries(params)) };
  return { ifname, mac, filter, instances: instantiateBinding(binding, source) };
}

export const inlineFilters = (...xml: string[]) => new MapFilterSource(xml.map((x) => parseFilter(x)));

export type Frame = Record<string, string | number> & { marker: string };

/** A long-running frames.py command in `ns`, resolved once it printed `ready`. */
export async function ready(net: Net, ns: string, argv: string[]) {
  const child = net.lab.spawn(ns, ['python3', FRAMES, ...argv]);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  while (!out.includes('ready')) await once(child.stdout!, 'data');
  return { child, output: () => out };
}

/** Sends `frames` from `from` and counts, on each other side, the frames of each marker. */
export async function probe(net: Net, from: Side, frames: readonly Frame[], seconds = 1.2): Promise<Record<Side, Record<string, number>>> {
  const markers = frames.map((f) => f.marker);
  const sides = (['a', 'b', 'host'] as const).filter((s) => s !== from);
  const listeners = await Promise.all(sides.map((s) => ready(net, net.ns[s], ['listen', s === 'host' ? 'br0' : 'eth0', String(seconds), ...markers])));
  net.lab.exec(net.ns[from], ['python3', FRAMES, 'send', from === 'host' ? 'br0' : 'eth0', JSON.stringify(frames)]);
  const out: Record<Side, Record<string, number>> = { a: {}, b: {}, host: {} };
  for (const [i, l] of listeners.entries()) {
    if (l.child.exitCode === null) await once(l.child, 'exit');
    out[sides[i]!] = JSON.parse(l.output().trim().split('\n').pop()!) as Record<string, number>;
  }
  return out;
}

/** TCP servers on `ports` in every namespace (killed with the lab). */
export async function tcpServers(net: Net, ports: readonly number[]): Promise<void> {
  for (const ns of Object.values(net.ns)) await ready(net, ns, ['tcp-serve', ...ports.map(String)]);
}

export function connects(net: Net, from: Side, to: Side, port: number, v6 = false): boolean {
  const addr = (v6 ? IP6 : IP)[to];
  return net.lab.exec(net.ns[from], ['python3', FRAMES, 'tcp-connect', addr, String(port), '1.5'], false).status === 0;
}

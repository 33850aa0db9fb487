// A bridged test network for nwfilter backends: namespace `host` with bridge br0, guests A and B
// attached by veth (host ends vnet0/vnet1 play the guests' TAP devices), crafted frames sent
// from one guest and counted on the other side (frames.py), TCP flows between real stacks. Each
// guest has a second, silent link to br0 (eth1, host end vctlA/vctlB) that no filter sees: the
// end frame of a probe comes that way, so a probe waits for the frames themselves, not a time.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { createNwfilterBackend } from '../../src/backends/nwfilter.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import { SystemRunner } from '../../src/exec/runner.js';
import { waitFor } from '../../src/util/wait-for.js';
import type { NwfilterBackend, NwfilterBackendName, PortFilter } from '../../src/nwfilter/backend.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { chainSources, DirectoryFilterSource, MapFilterSource, type FilterSource } from '../../src/nwfilter/source.js';
import { CORPUS } from '../support/corpus.js';
import { NetnsLab } from '../support/netns.js';

export const FRAMES = resolve('test/nwfilter/frames.py');
export { CORPUS };

export const MAC = {
  a: '52:54:00:00:00:0a',
  b: '52:54:00:00:00:0b',
  host: '52:54:00:00:00:01',
  other: '52:54:00:00:00:99',
};
export const IP = { a: '10.99.0.10', b: '10.99.0.11', host: '10.99.0.1', other: '10.99.0.99' };
export const IP6 = { a: 'fd99::10', b: 'fd99::11', host: 'fd99::1', other: 'fd99::99' };

export type Side = 'a' | 'b' | 'host';

const CTL_MAC = { a: '02:00:00:00:c0:0a', b: '02:00:00:00:c0:0b' };
/** Where a side's frames are sent and counted, and where its probe end frames go and arrive. */
const DATA_IF: Record<Side, string> = { a: 'eth0', b: 'eth0', host: 'br0' };
const CTL_IF: Record<Side, string> = { a: 'eth1', b: 'eth1', host: 'br0' };

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
  for (const [ns, side] of [
    [a, 'a'],
    [b, 'b'],
  ] as const) {
    lab.exec(ns, ['ip', 'addr', 'add', `${IP[side]}/24`, 'dev', 'eth0']);
    lab.exec(ns, ['ip', 'addr', 'add', `${IP6[side]}/64`, 'dev', 'eth0', 'nodad']);
    // the control link: no ARP, no IPv6, no address, so it carries only end frames and floods
    const ctl = `vctl${side.toUpperCase()}`;
    lab.veth(host, ctl, ns, 'eth1', { bridge: 'br0', mac: CTL_MAC[side] });
    lab.exec(host, ['sysctl', '-qw', `net.ipv6.conf.${ctl}.disable_ipv6=1`]);
    lab.exec(ns, ['sysctl', '-qw', 'net.ipv6.conf.eth1.disable_ipv6=1']);
    lab.exec(ns, ['ip', 'link', 'set', 'eth1', 'arp', 'off']);
  }
  return { lab, ns: { host, a, b }, ifname: { a: 'vnet0', b: 'vnet1' }, runner: new SystemRunner({ netns: host }) };
}

export function backendFor(name: NwfilterBackendName, net: Net): Promise<NwfilterBackend> {
  return createNwfilterBackend(net.runner, name);
}

/** Stock filters (the corpus copy), after `extra`. */
export function filterSource(...extra: FilterSource[]): FilterSource {
  return chainSources(
    ...extra,
    new DirectoryFilterSource(resolve(CORPUS, 'filters'), (text, file) => parseFilter(text, file)),
  );
}

export function portFilter(
  portdev: string,
  mac: string,
  filter: string,
  params: Record<string, string[]>,
  source: FilterSource,
): PortFilter {
  const binding = { portdev, mac, filter, params: new Map(Object.entries(params)) };
  return { portdev, mac, filter, instances: instantiateBinding(binding, source) };
}

export const inlineFilters = (...xml: string[]) => new MapFilterSource(xml.map((x) => parseFilter(x)));

export type Frame = Record<string, string | number> & { marker: string };

/** A long-running frames.py command in `ns`, resolved once it printed `ready`. */
export async function ready(net: Net, ns: string, argv: string[]) {
  const child = net.lab.spawn(ns, ['python3', FRAMES, ...argv]);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`frames.py ${argv[0]} in ${ns} exited (${child.exitCode}): ${err}`);
      return out.includes('ready');
    },
    { what: `frames.py ${argv[0]} ready in ${ns}`, timeout: 20_000, interval: 10 },
  );
  return { child, output: () => out, errors: () => err };
}

/** A frames.py agent in a side's namespace: count and send commands without a process each. */
class FramesAgent {
  private pending = '';
  private readonly lines: string[] = [];
  private errors = '';

  constructor(
    private readonly child: ChildProcess,
    private readonly side: Side,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const parts = (this.pending + d).split('\n');
      this.pending = parts.pop()!;
      this.lines.push(...parts);
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.errors += d;
    });
  }

  command(cmd: Record<string, unknown>): void {
    this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
  }

  /** The next line it prints; fails with its stderr if it exits first. */
  async line(what: string): Promise<string> {
    await waitFor(
      () => {
        if (this.lines.length > 0) return true;
        if (this.child.exitCode !== null || this.child.signalCode !== null)
          throw new Error(`frames.py agent at ${this.side} ended: ${this.errors}`);
        return false;
      },
      { what: `${what} from the frames.py agent at ${this.side}`, timeout: 30_000, interval: 2 },
    );
    return this.lines.shift()!;
  }
}

const agents = new WeakMap<Net, Map<Side, FramesAgent>>();

async function agentAt(net: Net, side: Side): Promise<FramesAgent> {
  const known = agents.get(net) ?? new Map<Side, FramesAgent>();
  agents.set(net, known);
  let agent = known.get(side);
  if (!agent) {
    agent = new FramesAgent(net.lab.spawn(net.ns[side], ['python3', FRAMES, 'agent'], 'pipe'), side);
    known.set(side, agent);
    assert.equal(await agent.line('ready'), 'ready');
  }
  return agent;
}

let probes = 0;

/**
 * Sends `frames` from `from` and counts, on each other side, the frames of each marker that
 * arrived before the probe's end frame (frames.py: count, send).
 */
export async function probe(
  net: Net,
  from: Side,
  frames: readonly Frame[],
): Promise<Record<Side, Record<string, number>>> {
  const markers = frames.map((f) => f.marker);
  const end = `probe-end-${process.pid}-${++probes}`;
  const sides = (['a', 'b', 'host'] as const).filter((s) => s !== from);
  const counters = await Promise.all(sides.map((s) => agentAt(net, s)));
  for (const [i, c] of counters.entries())
    c.command({ op: 'count', iface: DATA_IF[sides[i]!], ctl: CTL_IF[sides[i]!], end, markers });
  for (const c of counters) assert.equal(await c.line('ready to count'), 'ready');
  const sender = await agentAt(net, from);
  sender.command({ op: 'send', iface: DATA_IF[from], frames, ctl: CTL_IF[from], end });
  assert.equal(await sender.line('frames sent'), 'sent');
  const out: Record<Side, Record<string, number>> = { a: {}, b: {}, host: {} };
  for (const [i, c] of counters.entries())
    out[sides[i]!] = JSON.parse(await c.line('counts')) as Record<string, number>;
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

// Equivalence of the nwfilter backends on real bridges: every scenario in scenarios/*.json (a
// filter, frames and TCP flows, each with the verdict libvirt's semantics give) must come out as
// expected on BOTH backends; and every corpus filter (nwfilterxml2firewalldata) must, under a
// fixed battery of frames sent both ways, pass and drop exactly the same frames on both.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import { protocolSpec } from '../../src/conf/nwfilter/protocols.js';
import type { NwfilterBackendName } from '../../src/nwfilter/backend.js';
import { DirectoryFilterSource, MapFilterSource } from '../../src/nwfilter/source.js';
import { canUseNetns } from '../support/netns.js';
import { BATTERY, hostQuirks, loadScenario, SCENARIOS, wrapper, type Scenario } from './scenarios.js';
import {
  backendFor,
  connects,
  CORPUS,
  filterSource,
  inlineFilters,
  IP,
  IP6,
  MAC,
  portFilter,
  probe,
  tcpServers,
  topology,
  type Frame,
  type Net,
  type Side,
} from './lab.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';
const BACKENDS: readonly NwfilterBackendName[] = ['ebiptables', 'nftables'];

/** Every frame's count on every side it names, and every flow's outcome. */
async function observe(net: Net, s: Scenario): Promise<Record<string, number | boolean>> {
  const seen: Record<string, number | boolean> = {};
  for (const from of ['a', 'b', 'host'] as const) {
    const frames = s.frames.filter((f) => f.from === from);
    if (frames.length === 0) continue;
    const counts = await probe(
      net,
      from,
      frames.map(({ expect: _e, from: _f, ...frame }) => frame as unknown as Frame),
    );
    for (const f of frames)
      for (const side of Object.keys(f.expect) as Side[]) seen[`${f.marker}@${side}`] = counts[side][f.marker] ?? 0;
  }
  for (const fl of s.flows)
    seen[flowName(fl)] =
      fl.port === undefined ? pings(net, fl.from, fl.to, fl.v6) : connects(net, fl.from, fl.to, fl.port, fl.v6);
  return seen;
}

const flowName = (fl: Scenario['flows'][number]) =>
  `${fl.port === undefined ? 'ping' : 'tcp'} ${fl.from}->${fl.to}${fl.port === undefined ? '' : `:${fl.port}`}${fl.v6 ? ' v6' : ''}`;

function pings(net: Net, from: Side, to: Side, v6 = false): boolean {
  return net.lab.exec(net.ns[from], ['ping', v6 ? '-6' : '-4', '-c1', '-W1', (v6 ? IP6 : IP)[to]], false).status === 0;
}

function expected(s: Scenario, backend: NwfilterBackendName, quirks: Set<string>): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  for (const f of s.frames) for (const [side, n] of Object.entries(f.expect)) out[`${f.marker}@${side}`] = n;
  for (const fl of s.flows) out[flowName(fl)] = fl.expect;
  for (const [name, q] of Object.entries(s.quirks ?? {})) if (quirks.has(name)) Object.assign(out, q[backend] ?? {});
  return out;
}

async function withBackend(t: TestContext, name: NwfilterBackendName) {
  const net = topology(t);
  await tcpServers(net, [22, 23, 25, 80, 2222, 8080]);
  return { net, backend: await backendFor(name, net) };
}

// The three tests wait on the kernel and on processes, each in a lab of its own: they run at once.
describe('nwfilter backends give libvirt verdicts on real bridges', { skip, concurrency: true }, () => {
  const files = readdirSync(SCENARIOS)
    .filter((f) => f.endsWith('.json'))
    .sort();
  for (const name of BACKENDS) {
    it(`scenarios on ${name}`, async (t) => {
      const { net, backend } = await withBackend(t, name);
      const quirks = hostQuirks(net);
      for (const q of quirks) t.diagnostic(`host quirk: ${q}`);
      for (const file of files) {
        const s = loadScenario(file);
        const source = s.xml ? filterSource(inlineFilters(s.xml)) : filterSource();
        await backend.apply({ set: [portFilter('vnet0', MAC.a, s.filter, s.params, source)], remove: [] });
        assert.deepEqual(await observe(net, s), expected(s, name, quirks), `${file}: ${s.about}`);
        await backend.apply({ set: [], remove: ['vnet0'] });
      }
    });
  }

  it('corpus filters drop and pass the same frames on both backends', async (t) => {
    const dir = join(CORPUS, 'nwfilterxml2firewalldata');
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.xml') && !f.startsWith('ref'))
      .sort();
    const referenced = new DirectoryFilterSource(dir, (text, f) => parseFilter(text, f));
    const vars = {
      IPSETNAME: ['tck_test'],
      A: ['1.1.1.1', '2.2.2.2', '3.3.3.3', '3.3.3.3'],
      B: ['80', '90', '80', '80'],
      C: ['1080', '1090', '1100', '1110'],
      IP: [IP.a],
    };
    // each backend on a lab of its own, both at once
    const verdicts = async (name: NwfilterBackendName): Promise<Record<string, string>> => {
      const out: Record<string, string> = {};
      const { net, backend } = await withBackend(t, name);
      for (const file of files) {
        const filter = parseFilter(readFileSync(join(dir, file), 'utf8'), file);
        try {
          // Most corpus filters only accept; behind a final drop their accepts decide.
          const l3Only = filter.entries.every(
            (e) => e.kind === 'rule' && e.protocol && protocolSpec(e.protocol).layer !== 'ethernet',
          );
          const source = filterSource(
            new MapFilterSource([filter]),
            inlineFilters(wrapper(filter.name, l3Only)),
            referenced,
          );
          await backend.apply({ set: [portFilter('vnet0', MAC.a, 'vwt-wrap', vars, source)], remove: [] });
        } catch (err) {
          out[file] = `refused: ${(err as Error).message.split('\n')[0]}`;
          continue;
        }
        const sent = await probe(
          net,
          'a',
          BATTERY.map((f) => ({ ...f, marker: `out-${f.marker}!` })),
        );
        const inn = await probe(
          net,
          'b',
          BATTERY.map((f) => ({
            ...f,
            marker: `in-${f.marker}!`,
            src_mac: MAC.b,
            dst_mac: f.dst_mac === MAC.b ? MAC.a : f.dst_mac,
          })),
        );
        out[file] = JSON.stringify([sent.b, sent.host, inn.a]);
        await backend.apply({ set: [], remove: ['vnet0'] });
      }
      return out;
    };
    const [ebiptables, nftables] = await Promise.all(BACKENDS.map(verdicts));
    const results: Record<NwfilterBackendName, Record<string, string>> = {
      ebiptables: ebiptables!,
      nftables: nftables!,
    };
    // Filters only one backend can express are listed, not compared.
    const refusedByNft = Object.entries(results.nftables)
      .filter(([, v]) => v.startsWith('refused'))
      .map(([k]) => k);
    for (const file of refusedByNft) t.diagnostic(`${file}: ${results.nftables[file]}`);
    const compared = Object.keys(results.ebiptables).filter((f) => !refusedByNft.includes(f));
    assert.ok(
      compared.length >= files.length - 3,
      `most corpus filters are compared (${compared.length}/${files.length})`,
    );
    // The battery must tell filters apart, or agreeing would prove nothing.
    const patterns = new Set(compared.map((f) => results.nftables[f]));
    t.diagnostic(`${compared.length} filters compared, ${patterns.size} different verdict patterns`);
    assert.ok(patterns.size >= 5, `the battery separates the filters (${patterns.size} patterns)`);
    assert.deepEqual(
      Object.fromEntries(compared.map((f) => [f, results.nftables[f]])),
      Object.fromEntries(compared.map((f) => [f, results.ebiptables[f]])),
    );
  });
});

// nwfilter-explain against the kernel: every frame of the equivalence scenarios goes through
// real bridges with the scenario's filter on guest A's port, and for every side that could
// receive it, explain's verdict (on the same bytes, frames.py's) must be whether it arrived. On
// the nftables backend explain evaluates the backend's own model; on the ebiptables backend the
// model the nftables backend would load for the same port, which must then predict what
// libvirt's ebtables/iptables layout does (both backends give libvirt's verdicts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { PortLedger } from '../../src/backends/nftables/ledger.js';
import { explainPort } from '../../src/explain/explain.js';
import type { Peer } from '../../src/explain/nft-eval.js';
import type { NwfilterBackendName } from '../../src/nwfilter/backend.js';
import { canUseNetns } from '../support/netns.js';
import {
  backendFor,
  filterSource,
  FRAMES,
  inlineFilters,
  MAC,
  portFilter,
  probe,
  topology,
  type Frame,
  type Net,
  type Side,
} from '../nwfilter/lab.js';
import { loadScenario, SCENARIOS, type ScenarioFrame } from '../nwfilter/scenarios.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';
const BACKENDS: readonly NwfilterBackendName[] = ['nftables', 'ebiptables'];

/** The bytes frames.py sends for each frame. */
function frameHex(net: Net, frames: readonly Frame[]): string[] {
  const out = net.lab.exec(net.ns.host, ['python3', FRAMES, 'hex', JSON.stringify(frames)]).stdout;
  return out.trim().split('\n');
}

const isGroup = (mac: string) => (parseInt(mac.slice(0, 2), 16) & 1) === 1;
const SIDE_MAC: Record<Side, string> = { a: MAC.a, b: MAC.b, host: MAC.host };

/**
 * How the frame passes guest A's port on its way to `side`, if it does: libvirt's direction,
 * and whether the other end is the host. Frames the bridge would not deliver to `side` anyway
 * (unicast to another address) say nothing about the filter.
 */
function route(f: ScenarioFrame, side: Side): { direction: 'in' | 'out'; peer: Peer } | undefined {
  const dst = f['dst_mac'] as string;
  if (!isGroup(dst) && dst !== SIDE_MAC[side]) return undefined;
  const peer: Peer = f.from === 'host' || side === 'host' ? 'host' : 'port';
  if (f.from === 'a') return { direction: 'out', peer };
  if (side === 'a') return { direction: 'in', peer };
  return undefined;
}

describe('nwfilter-explain agrees with the kernel', { skip, concurrency: true }, () => {
  const files = readdirSync(SCENARIOS)
    .filter((f) => f.endsWith('.json'))
    .sort();
  for (const name of BACKENDS) {
    it(`scenario frames on ${name}`, async (t) => {
      const net = topology(t);
      const backend = await backendFor(name, net);
      const disagreements: string[] = [];
      const verdicts = new Set<string>();
      let compared = 0;
      for (const file of files) {
        const s = loadScenario(file);
        const source = s.xml ? filterSource(inlineFilters(s.xml)) : filterSource();
        const port = portFilter('vnet0', MAC.a, s.filter, s.params, source);
        await backend.apply({ set: [port], remove: [] });
        let held = backend.explainable?.();
        if (!held) {
          const ledger = new PortLedger('br_netfilter', 1);
          ledger.set(port);
          held = { model: ledger.model, layout: 'br_netfilter' };
        }
        // the host tools' known defects change these on ebiptables (see the scenario's quirks)
        const quirky = new Set(Object.values(s.quirks ?? {}).flatMap((q) => Object.keys(q[name] ?? {})));
        for (const from of ['a', 'b', 'host'] as const) {
          const frames = s.frames.filter((f) => f.from === from);
          if (frames.length === 0) continue;
          const sent = frames.map(({ expect: _e, from: _f, ...frame }) => frame as unknown as Frame);
          const counts = await probe(net, from, sent);
          const bytes = frameHex(net, sent);
          frames.forEach((f, i) => {
            for (const side of Object.keys(f.expect) as Side[]) {
              const way = route(f, side);
              const key = `${f.marker}@${side}`;
              if (!way || quirky.has(key)) continue;
              const report = explainPort({ port, ...held! }, { ...way, frames: [bytes[i]!] });
              const verdict = report.packets[0]!.verdict;
              const arrived = (counts[side][f.marker] ?? 0) > 0;
              compared++;
              verdicts.add(verdict);
              if ((verdict === 'accept') !== arrived)
                disagreements.push(
                  `${file} ${key} (${way.direction}, ${way.peer}): explain says ${verdict} (${report.packets[0]!.reason}), the kernel ${arrived ? 'delivered it' : 'did not deliver it'}`,
                );
            }
          });
        }
        await backend.apply({ set: [], remove: ['vnet0'] });
      }
      t.diagnostic(`${compared} frame verdicts compared`);
      assert.deepEqual(disagreements, []);
      // agreement must cover both outcomes, or it proves little
      assert.ok(compared >= 40, `enough frames compared (${compared})`);
      assert.deepEqual([...verdicts].sort(), ['accept', 'drop']);
    });
  }
});

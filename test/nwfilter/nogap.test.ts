// No gap while filters change: guest A floods spoofed frames (foreign source MAC, foreign source
// IP) mixed with legitimate ones, while its port is re-bound with new parameters, its filter is
// redefined and another port comes and goes on the same shared chains, many times over. Every
// change is one nft transaction, so B must receive none of the spoofed frames, and the
// legitimate ones keep flowing. The flood runs flat out: a kernel window lasts a microsecond
// or so around each commit (transaction.ts), and the test must be able to hit it. The same
// while the flooded port is traced and untraced over and over (nwfilter-trace), its MAC checked
// by mac_filter only: tracing moves that check into the port's trace chain and back.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { NftablesBackend } from '../../src/backends/nftables/backend.js';
import { canUseNetns } from '../support/netns.js';
import { filterSource, inlineFilters, IP, MAC, portFilter, ready, topology, type Frame, type Net } from './lab.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';

/**
 * Two definitions of user filter `name` that keep the checks of stock filter `ref`, the second
 * with one rule more: a port alternating them loads a new filter tree at every change.
 */
const guardDefinitions = (name: string, ref: string) => [
  `<filter name='${name}' chain='root'><filterref filter='${ref}'/></filter>`,
  `<filter name='${name}' chain='root'>
     <rule action='accept' direction='out' priority='-900'><mac protocolid='0x88b5' srcmacaddr='$MAC'/></rule>
     <filterref filter='${ref}'/>
   </filter>`,
];
/** Both keep clean-traffic's anti-spoofing. */
const DEFINITIONS = guardDefinitions('vwt-guard', 'clean-traffic');
const PARAMS = [{ IP: [IP.a] }, { IP: [IP.a, '10.99.0.12'] }];
/** Every change of A's port alternates its definition, so each one loads a new filter tree. */
const MIN_CHANGES = 60;

/** A's legitimate frames to B, and ones with a foreign source MAC and a foreign source IP. */
const FRAMES: Frame[] = [
  { kind: 'ipv4', marker: 'legit!', src_mac: MAC.a, dst_mac: MAC.b, src_ip: IP.a, dst_ip: IP.b },
  { kind: 'ipv4', marker: 'spoof-mac!', src_mac: MAC.other, dst_mac: MAC.b, src_ip: IP.a, dst_ip: IP.b },
  { kind: 'ipv4', marker: 'spoof-ip!', src_mac: MAC.a, dst_mac: MAC.b, src_ip: IP.other, dst_ip: IP.b },
];

/**
 * Guest A floods `frames` at B flat out while `change(1)`, `change(2)`, ... run (at least
 * MIN_CHANGES of them, and until the flood ends); what A sent, what B saw, how many changes ran.
 */
async function underFlood(net: Net, frames: Frame[], change: (i: number) => Promise<void>) {
  const listener = await ready(net, net.ns.b, ['listen', 'eth0', '16', ...frames.map((f) => f.marker)]);
  const flood = await ready(net, net.ns.a, ['flood', 'eth0', '14', JSON.stringify(frames), '0']);
  let changes = 0;
  for (let i = 1; flood.child.exitCode === null || i <= MIN_CHANGES; i++, changes++) await change(i);
  if (flood.child.exitCode === null) await once(flood.child, 'exit');
  if (listener.child.exitCode === null) await once(listener.child, 'exit');
  const sent = JSON.parse(flood.output().trim().split('\n').pop()!) as { rounds: number };
  const seen = JSON.parse(listener.output().trim().split('\n').pop()!) as Record<string, number>;
  return { sent, seen, changes };
}

describe('nftables backend: no window without the filter', { skip }, () => {
  it('spoofed frames never pass while ports are re-bound, redefined, added and removed', async (t) => {
    const net = topology(t);
    const backend = await NftablesBackend.create(net.runner);
    const port = (i: number) =>
      portFilter(
        'vnet0',
        MAC.a,
        'vwt-guard',
        PARAMS[Math.floor(i / 2) % 2]!,
        filterSource(inlineFilters(DEFINITIONS[i % 2]!)),
      );
    const other = portFilter('vnet1', MAC.b, 'clean-traffic', { IP: [IP.b] }, filterSource());
    await backend.apply({ set: [port(0)], remove: [] });

    const frames: Frame[] = [
      ...FRAMES,
      {
        kind: 'arp',
        marker: 'spoof-arp!',
        op: 2,
        src_mac: MAC.a,
        dst_mac: MAC.b,
        sha: MAC.a,
        spa: IP.other,
        tha: MAC.b,
        tpa: IP.b,
      },
    ];
    // A's port changes at every step; B's joins and leaves the shared clean-traffic chains every other one
    const { sent, seen, changes } = await underFlood(net, frames, async (i) => {
      await backend.apply({ set: [port(i)], remove: [] });
      await backend.apply(i % 2 ? { set: [other], remove: [] } : { set: [], remove: ['vnet1'] });
    });
    t.diagnostic(`${sent.rounds} rounds sent during ${2 * changes} transactions; B saw ${JSON.stringify(seen)}`);
    assert.ok(sent.rounds > 100, 'the guest kept flooding');
    assert.deepEqual(
      { mac: seen['spoof-mac!'], ip: seen['spoof-ip!'], arp: seen['spoof-arp!'] },
      { mac: 0, ip: 0, arp: 0 },
    );
    assert.ok(seen['legit!']! > sent.rounds / 2, 'legitimate frames kept flowing');
  });

  it("spoofed frames never pass while the flooded port moves into the main shape's set and out again, in place", async (t) => {
    const net = topology(t);
    const backend = await NftablesBackend.create(net.runner);
    const guarded = filterSource(inlineFilters(DEFINITIONS[1]!));
    // clean-traffic is the main shape (four ports), vwt-guard another shape that stays (one port)
    const bystanders = [
      ...[1, 2, 3].map((n) =>
        portFilter(`vwtx${n}`, `52:54:00:00:01:0${n}`, 'clean-traffic', { IP: [`10.99.1.${n}`] }, filterSource()),
      ),
      portFilter('vwtx4', '52:54:00:00:01:04', 'vwt-guard', { IP: ['10.99.1.4'] }, guarded),
      portFilter('vnet1', MAC.b, 'clean-traffic', { IP: [IP.b] }, filterSource()),
    ];
    const port = (i: number) =>
      i % 2
        ? portFilter('vnet0', MAC.a, 'vwt-guard', { IP: [IP.a] }, guarded)
        : portFilter('vnet0', MAC.a, 'clean-traffic', { IP: [IP.a] }, filterSource());
    await backend.apply({ set: [port(0), ...bystanders], remove: [] });
    const dispatch = () =>
      [...backend.desired()!.sets.values()].filter((s) => /^(from|to)_port_/.test(s.name)).map((s) => s.name);
    const before = dispatch();
    assert.equal(before.filter((n) => /_s[0-9a-f]{10}_g1$/.test(n)).length, 2, 'a main set per bridge entry');

    const { sent, seen, changes } = await underFlood(net, FRAMES, (i) => backend.apply({ set: [port(i)], remove: [] }));
    t.diagnostic(`${sent.rounds} rounds sent during ${changes} moves; B saw ${JSON.stringify(seen)}`);
    assert.deepEqual(dispatch(), before, 'every move was in place: the same dispatch objects, generation 1');
    assert.ok(sent.rounds > 100, 'the guest kept flooding');
    assert.deepEqual({ mac: seen['spoof-mac!'], ip: seen['spoof-ip!'] }, { mac: 0, ip: 0 });
    assert.ok(seen['legit!']! > sent.rounds / 2, 'legitimate frames kept flowing');
  });

  it('spoofed frames never pass while the flooded port is traced, redefined while traced, and untraced', async (t) => {
    const net = topology(t);
    const backend = await NftablesBackend.create(net.runner);
    // no MAC rule of its own: a foreign source MAC is dropped by mac_filter alone
    const guards = guardDefinitions('vwt-ipguard', 'no-ip-spoofing');
    const port = (i: number) => ({
      ...portFilter('vnet0', MAC.a, 'vwt-ipguard', { IP: [IP.a] }, filterSource(inlineFilters(guards[i % 2]!))),
      macFilter: true,
    });
    const other = portFilter('vnet1', MAC.b, 'clean-traffic', { IP: [IP.b] }, filterSource());
    await backend.apply({ set: [port(0), other], remove: [] });

    const { sent, seen, changes } = await underFlood(net, FRAMES, async (i) => {
      await backend.trace(['vnet0']);
      // a new filter tree while traced: new chains, new trace chains, the entries switched
      await backend.apply({ set: [port(i)], remove: [] });
      await backend.trace([]);
    });
    t.diagnostic(`${sent.rounds} rounds sent during ${3 * changes} changes; B saw ${JSON.stringify(seen)}`);
    assert.ok(sent.rounds > 100, 'the guest kept flooding');
    assert.deepEqual({ mac: seen['spoof-mac!'], ip: seen['spoof-ip!'] }, { mac: 0, ip: 0 });
    assert.ok(seen['legit!']! > sent.rounds / 2, 'legitimate frames kept flowing');
    const left = net.lab.exec(net.ns.host, ['nft', 'list', 'ruleset']).stdout;
    assert.doesNotMatch(left, /_trace|nftrace/, 'no trace chain or entry left');
  });
});

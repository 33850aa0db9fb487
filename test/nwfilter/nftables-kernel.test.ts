// The nftables backend on a real kernel: shared chains (binding more ports adds elements, not
// rules), counters and comments that trace a drop to its filter, reconcile repairing foreign
// damage from our own tables only, and other tools' tables never touched.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NftablesBackend } from '../../src/backends/nftables/backend.js';
import { ruleOrigin } from '../../src/backends/nftables/trace.js';
import { canUseNetns } from '../support/netns.js';
import { filterSource, IP, MAC, portFilter, probe, topology, type Net } from './lab.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';

function nft(net: Net, ...args: string[]): string {
  return net.lab.exec(net.ns.host, ['nft', ...args]).stdout;
}

/** Rules and set/map elements in our tables (the inet one exists only for IP rules), as the kernel lists them. */
function kernelSize(net: Net): { rules: number; elements: number } {
  let rules = 0;
  let elements = 0;
  for (const family of ['bridge', 'inet']) {
    const listed = net.lab.exec(net.ns.host, ['nft', '-j', 'list', 'table', family, 'virtwall_nwf'], false);
    if (listed.status !== 0) continue;
    const items = (JSON.parse(listed.stdout) as { nftables: Record<string, { elem?: unknown[] }>[] }).nftables;
    for (const item of items) {
      if (item['rule']) rules++;
      elements += (item['set'] ?? item['map'])?.elem?.length ?? 0;
    }
  }
  return { rules, elements };
}

const FOREIGN =
  'add table inet vwt_foreign\nadd chain inet vwt_foreign input { type filter hook input priority 10; policy accept; }\nadd rule inet vwt_foreign input counter accept comment "not ours"\n';

describe('nftables backend on a real kernel', { skip }, () => {
  it('shares chains between ports, traces drops to the XML and reconciles only its own tables', async (t) => {
    const net = topology(t);
    net.lab.exec(net.ns.host, ['nft', '-f', '-'], true, FOREIGN);
    const foreign = () =>
      nft(net, 'list', 'table', 'inet', 'vwt_foreign').replace(/packets \d+ bytes \d+/g, 'packets 0 bytes 0');
    const foreignBefore = foreign();
    const backend = await NftablesBackend.create(net.runner);
    t.diagnostic(`capabilities: ${JSON.stringify(backend.capabilities)}`);
    const clean = (ifname: string, mac: string, ip: string) =>
      portFilter(ifname, mac, 'clean-traffic', { IP: [ip] }, filterSource());

    await backend.apply({ set: [clean('vnet0', MAC.a, IP.a)], remove: [] });
    const one = kernelSize(net);
    // Ports that need not exist yet: filters are bound by name.
    const more = Array.from({ length: 20 }, (_, i) =>
      clean(`vnetx${i}`, `52:54:00:00:10:${i.toString(16).padStart(2, '0')}`, `10.99.1.${i + 1}`),
    );
    await backend.apply({ set: [clean('vnet1', MAC.b, IP.b), ...more], remove: [] });
    const many = kernelSize(net);
    assert.equal(many.rules, one.rules, 'rules do not grow with ports sharing a filter');
    assert.equal(many.elements, one.elements * 22, 'every port adds its own elements');

    // A spoofed frame is dropped by no-mac-spoofing, and its counter says so.
    const seen = await probe(net, 'a', [
      { kind: 'ipv4', marker: 'spoof!', src_mac: MAC.other, dst_mac: MAC.b, src_ip: IP.a, dst_ip: IP.b },
    ]);
    assert.equal(seen.b['spoof!'], 0);
    type Listed = { rule?: { comment?: string; expr: Record<string, { packets?: number }>[] } };
    const counted = (JSON.parse(nft(net, '-j', 'list', 'table', 'bridge', 'virtwall_nwf')) as { nftables: Listed[] })
      .nftables;
    const dropping = counted.flatMap((o) =>
      o.rule?.expr.some((e) => 'drop' in e) && o.rule.expr.some((e) => (e['counter']?.packets ?? 0) > 0)
        ? [o.rule.comment ?? '']
        : [],
    );
    // (The guests' own IPv6 chatter shows up on no-other-l2-traffic's drop.)
    assert.deepEqual(
      dropping.map((c) => ruleOrigin(c)).filter((o) => o?.path[1] === 'no-mac-spoofing'),
      [{ path: ['clean-traffic', 'no-mac-spoofing'], priority: 500 }],
    );

    // Someone removes a port's element and empties a shared chain; reconcile repairs just that.
    const list = nft(net, '-a', 'list', 'table', 'bridge', 'virtwall_nwf');
    const macSet = /set (from_mac_v[0-9a-f]{10}p)/.exec(list)![1]!;
    net.lab.exec(net.ns.host, ['nft', 'delete', 'element', 'bridge', 'virtwall_nwf', macSet, `{ "vnet1" . ${MAC.b} }`]);
    const arpChain = /chain (s[0-9a-f]+_from_arp_ip)/.exec(list)![1]!;
    net.lab.exec(net.ns.host, ['nft', 'flush', 'chain', 'bridge', 'virtwall_nwf', arpChain]);
    const desired = [clean('vnet0', MAC.a, IP.a), clean('vnet1', MAC.b, IP.b)];
    const report = await backend.reconcile(desired);
    assert.deepEqual(report.repaired.sort(), ['vnet0', 'vnet1']);
    assert.deepEqual(report.removed.sort(), more.map((p) => p.portdev).sort());
    assert.deepEqual(kernelSize(net), { rules: one.rules, elements: one.elements * 2 });
    const again = await backend.reconcile(desired);
    assert.deepEqual(
      { repaired: again.repaired, removed: again.removed },
      { repaired: [], removed: [] },
      'nothing left to repair',
    );
    const after = await probe(net, 'b', [
      { kind: 'ipv4', marker: 'spoof-b!', src_mac: MAC.other, dst_mac: MAC.a, src_ip: IP.b, dst_ip: IP.a },
    ]);
    assert.equal(after.a['spoof-b!'], 0, "B's MAC check is back");

    // Someone turns the MAC check's drop into an accept and keeps its comment: the rule is not ours
    // any more, and reconcile writes its chain again.
    const listed = JSON.parse(nft(net, '-j', 'list', 'table', 'bridge', 'virtwall_nwf')) as {
      nftables: { rule?: { chain: string; handle: number; comment?: string; expr: object[] } }[];
    };
    const check = listed.nftables
      .map((i) => i.rule)
      .find((r) => r?.comment?.startsWith('clean-traffic/no-mac-spoofing') && r.expr.some((s) => 'drop' in s))!;
    net.lab.exec(net.ns.host, [
      'nft',
      'replace',
      'rule',
      'bridge',
      'virtwall_nwf',
      check.chain,
      'handle',
      String(check.handle),
      'counter',
      'accept',
      'comment',
      `"${check.comment!}"`,
    ]);
    const spoofed = await probe(net, 'b', [
      { kind: 'ipv4', marker: 'spoof-c!', src_mac: MAC.other, dst_mac: MAC.a, src_ip: IP.b, dst_ip: IP.a },
    ]);
    assert.equal(spoofed.a['spoof-c!'], 1, 'the edited rule lets spoofed frames through');
    assert.deepEqual((await backend.reconcile(desired)).repaired.sort(), ['vnet0', 'vnet1']);
    const healed = await probe(net, 'b', [
      { kind: 'ipv4', marker: 'spoof-d!', src_mac: MAC.other, dst_mac: MAC.a, src_ip: IP.b, dst_ip: IP.a },
    ]);
    assert.equal(healed.a['spoof-d!'], 0, 'the MAC check is back');

    // Unbinding everything removes our tables; the foreign table never changed.
    await backend.apply({ set: [], remove: ['vnet0', 'vnet1'] });
    assert.doesNotMatch(nft(net, 'list', 'tables'), /virtwall_nwf/);
    assert.equal(foreign(), foreignBefore);
  });
});

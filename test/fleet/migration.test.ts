// Learned addresses follow the guest (test/fleet/lab.ts: real etcd with TLS, two daemons in
// namespaces): a guest learns its address on h1 (clean-traffic without IP, learned from its
// traffic), then floods spoofed frames while its port moves to h2. h2's port starts with the
// address learned on h1, not with a learning phase that could lock in a spoofed address.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canUseNetns } from '../support/netns.js';
import { waitFor } from '../../src/util/wait-for.js';
import { nft } from '../daemon/process.js';
import { FleetLab, type FleetHost } from './lab.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';
const G = { tap: 'vnet1', mac: '52:54:00:79:00:05', ip: '10.79.0.5', spoofed: '10.79.0.66' };
const UUID = '7d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a79';

describe('fleet: learned addresses follow the guest', { skip }, () => {
  let fleet: FleetLab;
  let h1: FleetHost;
  let h2: FleetHost;
  const portXml = `<networkport><uuid>${UUID}</uuid><owner><name>g</name><uuid>${UUID}</uuid></owner><mac address='${G.mac}'/></networkport>`;
  const createPort = (h: FleetHost) =>
    fleet.ok(h, ['net-port-create', 'n', fleet.file('port.xml', portXml), '--tap', G.tap, '--filter', 'clean-traffic']);
  const learning = (h: FleetHost) => fleet.cli(h, ['nwfilter-binding-learning', G.tap]).stdout;
  /** The guest's learned-address record in etcd: which host wrote it, and its lease if any. */
  const record = (): { host: string; lease?: bigint } | undefined => {
    const out = fleet.etcdctl(['get', `${fleet.prefix}learned/${UUID}/${G.mac}`, '-w', 'json']).stdout;
    // lease ids are 64-bit: read as text, not as a JSON number
    const kv = (JSON.parse(out) as { kvs?: { value: string }[] }).kvs?.[0];
    if (!kv) return undefined;
    const lease = /"lease":(\d+)/.exec(out)?.[1];
    const host = (JSON.parse(Buffer.from(kv.value, 'base64').toString()) as { host: string }).host;
    return { host, ...(lease && lease !== '0' ? { lease: BigInt(lease) } : {}) };
  };

  before(async () => {
    fleet = new FleetLab();
    await fleet.startEtcd();
    [h1, h2] = ['h1', 'h2'].map((n) => fleet.addHost(n)) as [FleetHost, FleetHost];
    for (const h of [h1, h2]) {
      await fleet.start(h);
      fleet.ok(h, ['cluster', 'join']);
      // the same transient network on each host (which networks run stays per host)
      fleet.ok(h, [
        'net-create',
        fleet.file(
          'net.xml',
          "<network><name>n</name><bridge name='vbr0' stp='off'/><dns enable='no'/><ip address='10.79.0.1' prefix='24'/></network>",
        ),
      ]);
    }
  });
  after(() => fleet?.cleanup());

  it('a port moved to another host while the guest floods spoofed frames starts with the address learned before', async () => {
    const guest = fleet.lab.netns('guest');
    fleet.lab.veth(h1.ns, G.tap, guest, 'eth0', { mac: G.mac });
    fleet.lab.exec(guest, ['ip', 'addr', 'add', `${G.ip}/24`, 'dev', 'eth0']);
    createPort(h1);
    await waitFor(
      () => {
        fleet.lab.exec(guest, ['ping', '-c', '1', '-W', '1', '10.79.0.1'], false);
        return learning(h1).includes(`address='${G.ip}'`);
      },
      { what: `h1 to learn ${G.ip}`, timeout: 15_000, detail: () => learning(h1) },
    );
    // the guest turns hostile: spoofed and legitimate frames, as fast as it can
    fleet.lab.exec(guest, ['ip', 'addr', 'add', `${G.spoofed}/24`, 'dev', 'eth0']);
    fleet.lab.spawn(guest, ['ping', '-f', '-I', G.spoofed, '10.79.0.1']);
    fleet.lab.spawn(guest, ['ping', '-i', '0.05', '-I', G.ip, '10.79.0.1']);
    // migration: the port leaves h1, the guest's device reaches h2, the port is created there
    fleet.ok(h1, ['net-port-delete', 'n', UUID]);
    // the guest's record outlives its port for a while (an etcd lease), not for ever
    await waitFor(() => record()?.lease !== undefined, {
      what: "a lease on the guest's record",
      detail: () => JSON.stringify(record()),
    });
    assert.equal(record()!.host, 'h1');
    assert.ok(
      fleet.etcdctl(['lease', 'timetolive', record()!.lease!.toString(16)]).stdout.includes('granted with TTL(600s)'),
    );
    fleet.lab.exec(h1.ns, ['ip', 'link', 'set', G.tap, 'netns', h2.ns]);
    fleet.lab.exec(h2.ns, ['ip', 'link', 'set', G.tap, 'up']);
    createPort(h2);
    // at once, without a learning phase: the address learned on h1, locked, in h2's rules
    const now = learning(h2);
    assert.match(now, /state='learned'/, now);
    assert.match(now, new RegExp(`address='${G.ip.replace(/\./g, '\\.')}'`), now);
    assert.doesNotMatch(now, new RegExp(G.spoofed.replace(/\./g, '\\.')));
    const rules = nft(h2.ns, 'list ruleset').stdout;
    assert.match(rules, new RegExp(G.ip.replace(/\./g, '\\.')));
    assert.doesNotMatch(rules, new RegExp(G.spoofed.replace(/\./g, '\\.')));
    // and enforced: the legitimate address gets through, the spoofed one does not
    assert.equal(fleet.lab.exec(guest, ['ping', '-c', '2', '-W', '1', '-I', G.ip, '10.79.0.1'], false).status, 0);
    assert.notEqual(
      fleet.lab.exec(guest, ['ping', '-c', '2', '-W', '1', '-I', G.spoofed, '10.79.0.1'], false).status,
      0,
    );
    // still the legitimate address after the flood went on
    await new Promise((r) => setTimeout(r, 1000));
    assert.doesNotMatch(learning(h2), new RegExp(G.spoofed.replace(/\./g, '\\.')));
    assert.match(h2.daemon!.log(), /guest arrives with its learned addresses/);
    // the record is h2's now, kept while its port is there
    await waitFor(() => record()?.host === 'h2', { what: "h2's guest record", detail: () => JSON.stringify(record()) });
    assert.equal(record()!.lease, undefined);
  });
});

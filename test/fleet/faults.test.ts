// The fleet when parts fail, on real parts (test/fleet/lab.ts): one of three etcd members lost,
// a host partitioned while the others write and etcd compacts its history, a daemon killed
// between its etcd write and its local store, etcd gone altogether across a daemon restart.
// No accepted write is lost, every host converges without operator action, and a host without
// etcd keeps enforcing its last known definitions.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canUseNetns } from '../support/netns.js';
import { waitFor } from '../../src/util/wait-for.js';
import { kill9, nft } from '../daemon/process.js';
import { FleetLab, filterXml, type FleetHost } from './lab.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';

describe('fleet: faults', { skip }, () => {
  let fleet: FleetLab;
  let hosts: FleetHost[];
  const define = (h: FleetHost, name: string, port: number) =>
    fleet.cli(h, ['nwfilter-define', fleet.file(`${name}-${port}.xml`, filterXml(name, port))]);
  const converged = (name: string, port: number, on: FleetHost[] = hosts, timeout = 10_000) =>
    waitFor(() => on.every((h) => fleet.held(h, name)?.includes(`dstportstart='${port}'`)), {
      what: `${name} with port ${port} on ${on.map((h) => h.name).join(',')}`,
      timeout,
      detail: () => on.map((h) => `${h.name}: ${fleet.held(h, name)}\n${h.daemon?.log().slice(-3000)}`).join('\n'),
    });
  let guests = 0;
  const bind = (h: FleetHost, dev: string, filter: string) => {
    const n = ++guests;
    fleet.lab.exec(h.ns, ['ip', 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`]);
    fleet.ok(h, [
      'nwfilter-binding-create',
      fleet.file(
        `${h.name}-${dev}.xml`,
        `<filterbinding><owner><name>${dev}</name><uuid>11111111-2222-3333-4444-${String(n).padStart(12, '0')}</uuid></owner><portdev name='${dev}'/><mac address='52:54:00:00:10:${n.toString(16).padStart(2, '0')}'/><filterref filter='${filter}'/></filterbinding>`,
      ),
    ]);
  };

  before(async () => {
    fleet = new FleetLab();
    await fleet.startEtcd();
    hosts = ['h1', 'h2', 'h3'].map((n) => fleet.addHost(n));
    for (const h of hosts) await fleet.start(h);
    for (const h of hosts) fleet.ok(h, ['cluster', 'join']);
  });
  after(() => fleet?.cleanup());

  it('losing one of three etcd members changes nothing', async () => {
    fleet.killMember(2);
    assert.equal(define(hosts[0]!, 'fault-m', 4001).status, 0);
    await converged('fault-m', 4001);
    assert.equal(define(hosts[2]!, 'fault-m', 4002).status, 0);
    await converged('fault-m', 4002);
    fleet.startMember(2, 'existing');
  });

  it('a partitioned host keeps enforcing and working locally, refuses fleet writes, and converges after the heal (compaction included)', async () => {
    const [h1, h2, h3] = hosts as [FleetHost, FleetHost, FleetHost];
    assert.equal(define(h1, 'fault-p', 5001).status, 0);
    await converged('fault-p', 5001);
    bind(h3, 'vp01', 'fault-p');
    fleet.partition(h3, true);
    assert.equal(define(h1, 'fault-p', 5002).status, 0);
    assert.equal(define(h2, 'fault-q', 5100).status, 0);
    await converged('fault-p', 5002, [h1, h2]);
    // h3: its last known definition still enforced; a cluster write fails clearly; local runtime works
    assert.match(nft(h3.ns, 'list ruleset').stdout, /dport 5001/);
    const refused = define(h3, 'fault-p', 5003);
    assert.notEqual(refused.status, 0);
    assert.match(
      refused.stderr,
      /cannot write nwfilter 'fault-p' to the fleet, nothing was applied: .*etcd .* is unreachable/,
    );
    assert.match(fleet.held(h3, 'fault-p')!, /5001/, 'nothing applied locally');
    bind(h3, 'vp02', 'fault-p');
    assert.match(nft(h3.ns, 'list ruleset').stdout, /vp02/);
    // the history h3 missed is compacted away: it has to catch up by a full read
    const rev = /"revision":(\d+)/.exec(
      fleet.etcdctl(['get', `${fleet.prefix}defs/`, '--prefix', '-w', 'json']).stdout,
    )![1]!;
    fleet.etcdctl(['compact', rev]);
    fleet.partition(h3, false);
    const healed = Date.now();
    await converged('fault-p', 5002, [h3], 30_000);
    process.stderr.write(`partitioned host converged ${Date.now() - healed} ms after the heal\n`);
    await converged('fault-q', 5100, [h3], 30_000);
    await waitFor(() => /dport 5002/.test(nft(h3.ns, 'list ruleset').stdout), {
      what: "h3's bindings on the fleet's definition after the heal",
    });
    assert.doesNotMatch(nft(h3.ns, 'list ruleset').stdout, /dport 5001/);
    // and writes from h3 work again
    const again = define(h3, 'fault-p', 5004);
    assert.equal(again.status, 0, again.stderr);
    await converged('fault-p', 5004);
  });

  it('a daemon killed between its etcd write and its local store loses nothing: every host, and it after a restart, has the write', async () => {
    const h1 = hosts[0]!;
    await kill9(h1.daemon!);
    await fleet.start(h1, { VIRTWALL_CRASH_AT: 'fleet:written' });
    const r = define(h1, 'fault-k', 6001);
    assert.notEqual(r.status, 0, 'the daemon died in the middle');
    await h1.daemon!.exited;
    assert.equal(fleet.held(h1, 'fault-k'), undefined, 'not stored locally before the crash');
    await converged('fault-k', 6001, hosts.slice(1));
    await fleet.start(h1);
    await converged('fault-k', 6001, [h1]);
  });

  it('with etcd gone, a restarted daemon enforces its last known definitions and fleet writes fail clearly; etcd back, all resumes', async () => {
    const h2 = hosts[1]!;
    assert.equal(define(h2, 'fault-e', 7001).status, 0);
    await converged('fault-e', 7001);
    bind(h2, 've01', 'fault-e');
    for (let i = 0; i < 3; i++) fleet.killMember(i);
    await kill9(h2.daemon!);
    await fleet.start(h2);
    assert.match(fleet.held(h2, 'fault-e')!, /7001/);
    assert.match(fleet.ok(h2, ['nwfilter-list']), /fault-e/);
    assert.match(nft(h2.ns, 'list ruleset').stdout, /dport 7001/);
    const refused = define(h2, 'fault-e', 7002);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /etcd .* is unreachable/);
    for (let i = 0; i < 3; i++) fleet.startMember(i, 'existing');
    await waitFor(() => define(hosts[0]!, 'fault-e', 7003).status === 0, {
      what: 'a fleet write once etcd is back',
      timeout: 30_000,
    });
    await converged('fault-e', 7003, hosts, 30_000);
    await waitFor(() => /dport 7003/.test(nft(h2.ns, 'list ruleset').stdout), { what: "h2's binding updated" });
  });
});

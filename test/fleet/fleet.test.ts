// Three virtwall daemons sharing nwfilter and network definitions through a three-member etcd
// cluster with mutual TLS, all in namespaces of this test (test/fleet/lab.ts): a definition
// changed on any host reaches every host and its bindings; concurrent edits leave one winner and
// a clear conflict; a change that would break another host's binding is refused, naming it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { waitFor } from '../../src/util/wait-for.js';
import { api, nft } from '../daemon/process.js';
import { FleetLab, filterXml, type FleetHost } from './lab.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';
const hasVirsh = spawnSync('virsh', ['--version']).status === 0;

describe('fleet: definitions shared through etcd', { skip }, () => {
  let fleet: FleetLab;
  let hosts: FleetHost[];
  /** Every host holds `name` with content matching `re` (undefined: holds none). */
  const everywhere = (name: string, re: RegExp | undefined, what: string) =>
    waitFor(() => hosts.every((h) => (re ? re.test(fleet.held(h, name) ?? '') : fleet.held(h, name) === undefined)), {
      what,
      timeout: 10_000,
      detail: () => hosts.map((h) => `${h.name}: ${fleet.held(h, name)}`).join('\n'),
    });

  before(async () => {
    fleet = new FleetLab();
    await fleet.startEtcd();
    // h1 also serves libvirt's RPC: a virsh define goes through the fleet as the CLI's does
    hosts = ['h1', 'h2', 'h3'].map((n) => fleet.addHost(n, { libvirtSockets: n === 'h1' }));
    for (const h of hosts) await fleet.start(h);
    for (const h of hosts) assert.match(fleet.ok(h, ['cluster', 'join']), /joined the fleet/);
  });
  after(() => fleet?.cleanup());

  // how fast is bench/fleet-propagation.ts's business (a timed test would fail on a loaded machine)
  it('a filter defined on one host reaches every host, as the same definition', async () => {
    fleet.ok(hosts[0]!, ['nwfilter-define', fleet.file('f1.xml', filterXml('fleet-f1', 1001))]);
    await everywhere('fleet-f1', /dstportstart='1001'/, 'fleet-f1 on every host');
    const texts = new Set(hosts.map((h) => fleet.held(h, 'fleet-f1')));
    assert.equal(texts.size, 1, 'the same definition (UUID included) on every host');
  });

  it('a redefinition on another host re-instantiates the bindings of a third', async () => {
    const h3 = hosts[2]!;
    fleet.ok(hosts[0]!, ['nwfilter-define', fleet.file('f2.xml', filterXml('fleet-f2', 2001))]);
    await everywhere('fleet-f2', /2001/, 'fleet-f2 everywhere');
    fleet.lab.exec(h3.ns, ['ip', 'link', 'add', 'vnet7', 'type', 'veth', 'peer', 'name', 'vnet7p']);
    fleet.ok(h3, [
      'nwfilter-binding-create',
      fleet.file(
        'b7.xml',
        `<filterbinding><owner><name>g7</name><uuid>11111111-2222-3333-4444-000000000007</uuid></owner><portdev name='vnet7'/><mac address='52:54:00:00:00:07'/><filterref filter='fleet-f2'/></filterbinding>`,
      ),
    ]);
    assert.match(nft(h3.ns, 'list ruleset').stdout, /dport 2001/);
    fleet.ok(hosts[1]!, ['nwfilter-define', fleet.file('f2b.xml', filterXml('fleet-f2', 2002))]);
    await waitFor(() => /dport 2002/.test(nft(h3.ns, 'list ruleset').stdout), {
      what: "h3's binding re-instantiated with h2's redefinition",
      timeout: 10_000,
    });
    assert.doesNotMatch(nft(h3.ns, 'list ruleset').stdout, /dport 2001/);
  });

  it("refuses for the fleet a redefinition that would break another host's binding, naming host and binding", () => {
    const before = hosts.map((h) => fleet.held(h, 'fleet-f2'));
    const r = fleet.cli(hosts[0]!, [
      'nwfilter-define',
      fleet.file(
        'f2bad.xml',
        filterXml('fleet-f2', 2003, "\n  <rule action='accept' direction='out'><ip srcipaddr='$NOSUCHVAR'/></rule>"),
      ),
    ]);
    assert.notEqual(r.status, 0, r.stdout);
    assert.match(r.stderr, /host 'h3'.*vnet7/);
    assert.deepEqual(
      hosts.map((h) => fleet.held(h, 'fleet-f2')),
      before,
      'nothing changed on any host',
    );
    const u = fleet.cli(hosts[1]!, ['nwfilter-undefine', 'fleet-f2']);
    assert.notEqual(u.status, 0);
    assert.match(u.stderr, /in use on fleet host 'h3' \(binding vnet7\)/);
    assert.ok(fleet.held(hosts[1]!, 'fleet-f2'));
  });

  it('an undefine on one host removes the definition everywhere', async () => {
    fleet.ok(hosts[2]!, ['nwfilter-undefine', 'fleet-f1']);
    await everywhere('fleet-f1', undefined, 'fleet-f1 gone everywhere');
  });

  it('shares persistent networks: define, redefine, undefine from different hosts', async () => {
    const net = (port: string) =>
      `<network><name>fleetnet</name><bridge name='vfleet0' stp='off'/><dns enable='no'/><ip address='10.88.0.1' prefix='24'/>${port}</network>`;
    fleet.ok(hosts[1]!, ['net-define', fleet.file('n.xml', net(''))]);
    const netFile = (h: FleetHost) => join(h.root, 'etc/virtwall/networks/fleetnet.xml');
    await waitFor(() => hosts.every((h) => existsSync(netFile(h))), { what: 'fleetnet everywhere', timeout: 10_000 });
    fleet.ok(hosts[2]!, ['net-define', fleet.file('n2.xml', net("<domain name='fleet.test'/>"))]);
    await waitFor(() => hosts.every((h) => /fleet\.test/.test(readFileSync(netFile(h), 'utf8'))), {
      what: 'the redefinition everywhere',
      timeout: 10_000,
    });
    // which networks run stays per host
    fleet.ok(hosts[0]!, ['net-start', 'fleetnet']);
    assert.match(fleet.ok(hosts[0]!, ['net-list']), /fleetnet\s+active/);
    assert.doesNotMatch(fleet.ok(hosts[1]!, ['net-list']), /fleetnet/);
    fleet.ok(hosts[0]!, ['net-destroy', 'fleetnet']);
    fleet.ok(hosts[0]!, ['net-undefine', 'fleetnet']);
    await waitFor(() => hosts.every((h) => !existsSync(netFile(h))), {
      what: 'fleetnet gone everywhere',
      timeout: 10_000,
    });
  });

  it("refuses for the fleet a network whose bridge another host's network uses, naming host and network", async () => {
    const [h1, , h3] = hosts as [FleetHost, FleetHost, FleetHost];
    fleet.ok(h3, [
      'net-create',
      fleet.file(
        'local3.xml',
        "<network><name>local3</name><bridge name='vclash0' stp='off'/><dns enable='no'/><ip address='10.89.0.1' prefix='24'/></network>",
      ),
    ]);
    await waitFor(() => fleet.ok(h1, ['cluster', 'status', '--json']).includes('"name": "local3"'), {
      what: "h3's record listing local3",
    });
    const r = fleet.cli(h1, [
      'net-define',
      fleet.file('clash.xml', "<network><name>fleetclash</name><bridge name='vclash0'/></network>"),
    ]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /on host 'h3' network 'local3' uses bridge 'vclash0'/);
    assert.ok(hosts.every((h) => !existsSync(join(h.root, 'etc/virtwall/networks/fleetclash.xml'))));
    fleet.ok(h3, ['net-destroy', 'local3']);
  });

  it('a filter defined through libvirt RPC (virsh) reaches every host', {
    skip: !hasVirsh && 'needs virsh',
  }, async () => {
    const uri = `nwfilter+unix:///system?socket=${join(hosts[0]!.root, 'run/libvirt/virtnwfilterd-sock')}`;
    const r = spawnSync('virsh', ['-c', uri, 'nwfilter-define', fleet.file('rpc.xml', filterXml('fleet-rpc', 8081))], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    await everywhere('fleet-rpc', /8081/, 'fleet-rpc everywhere');
  });

  it('concurrent edits of one filter: each either wins or gets a conflict, and every host ends with the same winner', async () => {
    fleet.ok(hosts[0]!, ['nwfilter-define', fleet.file('c0.xml', filterXml('fleet-c', 3000))]);
    await everywhere('fleet-c', /3000/, 'fleet-c everywhere');
    let conflicts = 0;
    for (let round = 1; round <= 4; round++) {
      // straight to the daemons' sockets, all at once: no CLI start-up spreading them apart
      const runs = await Promise.all(
        hosts.map(async (h, i) => {
          const port = 3000 + round * 10 + i;
          const r = await api(h.root, 'POST', '/nwfilters', JSON.stringify({ xml: filterXml('fleet-c', port) }));
          return { port, status: r.status === 200 ? 0 : r.status, err: r.json.error ?? '' };
        }),
      );
      const won = runs.filter((r) => r.status === 0);
      const lost = runs.filter((r) => r.status !== 0);
      assert.ok(won.length >= 1, JSON.stringify(runs));
      for (const l of lost) assert.match(l.err, /changed in the fleet meanwhile.*nothing was applied/, l.err);
      conflicts += lost.length;
      // every host converges on one of the winners' content; no loser's content anywhere
      await waitFor(() => new Set(hosts.map((h) => fleet.held(h, 'fleet-c'))).size === 1, {
        what: 'one fleet-c everywhere',
        timeout: 10_000,
      });
      const port = Number(/dstportstart='(\d+)'/.exec(fleet.held(hosts[0]!, 'fleet-c')!)![1]);
      assert.ok(
        won.some((w) => w.port === port),
        `the fleet holds ${port}, a winner's: ${JSON.stringify(runs)}`,
      );
      const etcd = fleet.etcdctl(['get', '--print-value-only', `${fleet.prefix}defs/nwfilter/fleet-c`]).stdout;
      assert.match(etcd, new RegExp(`dstportstart='${port}'`));
    }
    // how many lose depends on timing (a host that saw the winner's write before its own wins
    // too); the compare-and-swap itself is tested with a stale revision below
    process.stderr.write(`concurrent edits: ${conflicts} of 12 lost\n`);
  });

  it("compare-and-swap: a write from a revision that is not etcd's is refused, naming the winner's", async () => {
    const r = fleet.lab.exec(fleet.etcdNs, [
      process.execPath,
      '--import',
      'tsx',
      join(import.meta.dirname, 'cas-probe.ts'),
      JSON.stringify(fleet.storeConfig('probe')),
    ]);
    const { created, conflict, updated } = JSON.parse(r.stdout) as {
      created: number;
      conflict: string;
      updated: number;
    };
    assert.match(
      conflict,
      new RegExp(
        `nwfilter 'cas-probe' was changed in the fleet meanwhile \\(revision ${created}, this host had seen none\\): nothing was applied`,
      ),
    );
    assert.ok(updated > created);
    await everywhere('cas-probe', /7003/, 'the write from the current revision everywhere');
  });

  it('a key in etcd cannot define another object than the one it names: refused on every host, shown as drift', async () => {
    const before = hosts.map((h) => fleet.held(h, 'clean-traffic'));
    fleet.etcdctl(['put', `${fleet.prefix}defs/nwfilter/evil`, filterXml('clean-traffic', 9999)]);
    await waitFor(
      () => {
        const s = JSON.parse(fleet.ok(hosts[0]!, ['cluster', 'status', '--json'])) as {
          hosts: { drift: Record<string, string> }[];
        };
        return (
          s.hosts.length === 3 && s.hosts.every((h) => /named 'clean-traffic'/.test(h.drift['nwfilter/evil'] ?? ''))
        );
      },
      { what: 'drift for nwfilter/evil on every host', timeout: 10_000 },
    );
    assert.deepEqual(
      hosts.map((h) => fleet.held(h, 'clean-traffic')),
      before,
    );
    assert.equal(fleet.held(hosts[0]!, 'evil'), undefined);
    fleet.etcdctl(['del', `${fleet.prefix}defs/nwfilter/evil`]);
  });

  it('cluster status lists every host with when it was seen and the revision it applied', () => {
    const s = JSON.parse(fleet.ok(hosts[0]!, ['cluster', 'status', '--json'])) as {
      hosts: { host: string; joined: boolean; lastSeen: string; revision: number; behind: boolean }[];
      etcdRevision: number;
    };
    assert.deepEqual(s.hosts.map((h) => h.host).sort(), ['h1', 'h2', 'h3']);
    for (const h of s.hosts) {
      assert.ok(h.joined);
      assert.ok(Date.now() - Date.parse(h.lastSeen) < 10_000, h.lastSeen);
      assert.ok(h.revision > 0);
    }
    assert.match(fleet.ok(hosts[1]!, ['cluster', 'status']), /h3\s+joined/);
  });

  it('cluster join refuses differing definitions with a diff unless --prefer says which side wins; leave keeps local copies', async () => {
    const h4 = fleet.addHost('h4');
    await fleet.start(h4);
    const fleetC = fleet.held(hosts[0]!, 'fleet-c')!;
    const uuid = /<uuid>([^<]+)<\/uuid>/.exec(fleetC)![1]!;
    // not joined: local definitions stay local
    fleet.ok(h4, [
      'nwfilter-define',
      fleet.file('h4c.xml', filterXml('fleet-c', 4444).replace('<rule', `<uuid>${uuid}</uuid><rule`)),
    ]);
    fleet.ok(h4, ['nwfilter-define', fleet.file('h4only.xml', filterXml('h4-only', 4400))]);
    assert.equal(fleet.held(hosts[0]!, 'h4-only'), undefined);
    const refused = fleet.cli(h4, ['cluster', 'join']);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /--prefer local or --prefer cluster/);
    assert.match(refused.stderr, /--- nwfilter\/fleet-c \(this host\)/);
    assert.match(refused.stderr, /-\s*<tcp dstportstart='4444'\/>/);
    assert.equal(fleet.held(hosts[0]!, 'h4-only'), undefined, 'a refused join exports nothing');
    assert.match(fleet.held(h4, 'fleet-c')!, /4444/, 'and imports nothing');
    // the fleet's side wins: h4 takes the fleet's fleet-c, exports h4-only
    assert.match(fleet.ok(h4, ['cluster', 'join', '--prefer', 'cluster']), /1 definitions exported/);
    assert.equal(fleet.held(h4, 'fleet-c'), fleetC);
    await everywhere('h4-only', /4400/, 'h4-only exported to every host');
    // leave: local copies kept, no longer listed, local changes stay local
    fleet.ok(h4, ['cluster', 'leave']);
    await waitFor(() => !/"host": "h4"/.test(fleet.ok(hosts[0]!, ['cluster', 'status', '--json'])), {
      what: 'h4 gone from the status',
    });
    assert.equal(fleet.held(h4, 'fleet-c'), fleetC);
    fleet.ok(h4, [
      'nwfilter-define',
      fleet.file('h4c2.xml', filterXml('fleet-c', 4545).replace('<rule', `<uuid>${uuid}</uuid><rule`)),
    ]);
    assert.equal(fleet.held(hosts[0]!, 'fleet-c'), fleetC);
    // this host's side wins: every host takes h4's fleet-c
    fleet.ok(h4, ['cluster', 'join', '--prefer', 'local']);
    await everywhere('fleet-c', /4545/, "h4's fleet-c on every host");
  });
});

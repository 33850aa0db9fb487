// IP learning through virtwalld on a real kernel: a port bound to clean-traffic without $IP
// learns the guest's address from its first packets (CTRL_IP_LEARNING=any, observed traffic),
// locks to it, shows it in net-port-dumpxml, and keeps the lock across a kill -9 restart.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canUseNetns } from '../support/netns.js';
import { cli, daemonFixture, kill9, startDaemon } from './process.js';
import { waitFor } from '../../src/util/wait-for.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const A = { tap: 'vnet1', mac: '52:54:00:78:00:11', ip: '10.78.0.11', uuid: '7d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a11' };
const B = { tap: 'vnet2', mac: '52:54:00:78:00:12', ip: '10.78.0.12', uuid: '7d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a12' };

describe('virtwalld IP learning', { skip }, () => {
  it('learns a guest address from its traffic, locks to it and keeps the lock over a restart', async (t) => {
    const { lab, ns: host, root, file } = daemonFixture(t, 'lh');
    const first = await startDaemon(host, root);
    const net =
      "<network><name>n</name><bridge name='vbr0' stp='off'/><dns enable='no'/><ip address='10.78.0.1' prefix='24'/></network>";
    assert.equal(cli(root, ['net-create', file('net.xml', net)]).status, 0);
    const guest = (g: typeof A, i: number, params: string[]) => {
      const ns = lab.netns(`g${i}`);
      lab.veth(host, g.tap, ns, 'eth0', { mac: g.mac });
      lab.exec(ns, ['ip', 'addr', 'add', `${g.ip}/24`, 'dev', 'eth0']);
      const port = file(
        `${g.tap}.xml`,
        `<networkport><uuid>${g.uuid}</uuid><owner><name>g${i}</name><uuid>${g.uuid}</uuid></owner><mac address='${g.mac}'/></networkport>`,
      );
      const r = cli(root, ['net-port-create', 'n', port, '--tap', g.tap, '--filter', 'clean-traffic', ...params]);
      assert.equal(r.status, 0, r.stderr);
      return ns;
    };
    const a = guest(A, 1, []); // no IP: learned
    guest(B, 2, ['--param', `IP=${B.ip}`]);
    const dump = () => cli(root, ['nwfilter-binding-learning', A.tap]).stdout;
    assert.match(dump(), /state='learning'/, dump());

    // the guest's first packets go out while learning, and teach its address
    await waitFor(
      () => {
        lab.exec(a, ['ping', '-c', '1', '-W', '1', B.ip], false);
        return dump().includes(`address='${A.ip}'`);
      },
      { what: `the port to learn ${A.ip}`, timeout: 15_000, detail: dump },
    );
    assert.match(dump(), /state='learned'/);
    // libvirt's binding XML gains the learned address as IP (virNWFilterInstantiateFilterUpdate)
    const binding = cli(root, ['nwfilter-binding-dumpxml', A.tap]).stdout;
    assert.match(
      binding,
      new RegExp(
        `<parameter name='IP' value='${A.ip.replace(/\./g, '\\.')}'/>\n    <parameter name='MAC' value='${A.mac}'/>`,
      ),
      binding,
    );
    assert.doesNotMatch(binding, /ip-learning/);
    const listed = JSON.parse(cli(root, ['net-port-list', 'n', '--json']).stdout) as {
      tap: string;
      ipLearning?: { addresses: { address: string; source: string }[] };
    }[];
    const learnedA = listed.find((p) => p.tap === A.tap)?.ipLearning?.addresses ?? [];
    assert.deepEqual(
      learnedA.map((x) => x.address),
      [A.ip],
      JSON.stringify(listed),
    );
    assert.ok(learnedA[0]!.source, 'how the address was learned');
    const pings = (src?: string) =>
      lab.exec(
        a,
        [
          'sh',
          '-c',
          src
            ? `ip addr add ${src}/32 dev eth0; ping -c 2 -W 1 -I ${src} ${B.ip}; r=$?; ip addr del ${src}/32 dev eth0; exit $r`
            : `ping -c 2 -W 1 ${B.ip}`,
        ],
        false,
      ).status === 0;
    await waitFor(() => pings(), { what: 'the learned address to work', timeout: 5000 });
    assert.ok(!pings('10.78.0.99'), 'another source address is dropped once the port is locked');

    await kill9(first);
    const second = await startDaemon(host, root);
    assert.match(dump(), new RegExp(`address='${A.ip.replace(/\./g, '\\.')}'`), 'the lock survives the restart');
    assert.ok(pings(), 'the learned address still works after the restart');
    assert.ok(!pings('10.78.0.98'), 'and other addresses are still dropped');
    assert.match(second.log(), /"reason":"start-up"/);
    assert.equal(cli(root, ['net-destroy', 'n']).status, 0);
  });
});

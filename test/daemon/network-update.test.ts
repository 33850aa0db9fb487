// net-update on a running network, with the real dnsmasq inside namespaces this test creates:
// a DHCP reservation added live is what a guest's DHCP client gets, a DNS host added live
// resolves and stops resolving when deleted, live and persistent definitions stay apart, and
// --current/--live/--config follow virsh (transient networks take only live changes).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { canUseNetns } from '../support/netns.js';
import { dhcp } from '../support/guest.js';
import { cli, cliOk, daemonFixture as fixture, openToOthers, startDaemon, stopAll, waitForLog } from './process.js';
import { processRuns } from '../../src/util/process.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';

const network = (name: string, bridge: string, net: string) => `<network>
  <name>${name}</name>
  <forward mode='nat'/>
  <bridge name='${bridge}' stp='off'/>
  <domain name='lab'/>
  <ip address='${net}.1' netmask='255.255.255.0'>
    <dhcp><range start='${net}.10' end='${net}.20'/></dhcp>
  </ip>
</network>`;

const GUEST_MAC = '52:54:00:00:00:11';
const RESERVATION = `<host mac='${GUEST_MAC}' name='fixed' ip='192.168.100.77'/>`;
const DNS_HOST = "<host ip='192.168.100.50'><hostname>svc</hostname></host>";

describe('net-update on a running network', { skip }, () => {
  after(() => stopAll());

  it('puts DHCP and DNS changes into effect live and keeps the persistent definition apart', async (t) => {
    const { lab, ns, root, file } = fixture(t, 'h');
    const guest = lab.netns('g');
    lab.veth(ns, 'vnet1', guest, 'eth0', { mac: GUEST_MAC });
    // dnsmasq re-reads its hosts files after dropping root: the state root must be traversable
    const d = await startDaemon(ns, root);
    openToOthers(root);
    const ok = (args: string[]) => cliOk(root, args);
    // dnsmasq's pid as the network records it (pgrep would see other namespaces' dnsmasq too)
    const dnsmasqPid = (name: string) => readFileSync(`${root}/run/virtwall/network/${name}.pid`, 'utf8').trim();
    const dig = (name: string) => {
      const r = lab.exec(guest, ['dig', '+time=2', '+tries=2', '@192.168.100.1', name], false);
      return /^\S+\s+\d+\s+IN\s+A\s+(\S+)$/m.exec(r.stdout)?.[1];
    };

    // --current on an inactive network changes the persistent definition
    ok(['net-define', file('net.xml', network('upd', 'vwbr0', '192.168.100'))]);
    assert.equal(
      cli(root, ['net-update', 'upd', 'add-last', 'ip-dhcp-host', RESERVATION, '--live']).stderr,
      'error: Failed to update network upd\nerror: Requested operation is not valid: network is not running\n',
    );
    ok(['net-start', 'upd']);
    lab.exec(ns, ['ip', 'link', 'set', 'vnet1', 'master', 'vwbr0']);

    assert.equal(
      ok(['net-update', 'upd', 'add-last', 'ip-dhcp-host', RESERVATION, '--live']),
      'Updated network upd live state\n',
    );
    assert.match(ok(['net-dumpxml', 'upd']), /<host mac='52:54:00:00:00:11' name='fixed' ip='192.168.100.77'\/>/);
    assert.doesNotMatch(ok(['net-dumpxml', 'upd', '--inactive']), /fixed/);
    assert.ok(dhcp(lab, guest, 'eth0').ok, 'guest got no lease');
    assert.match(lab.exec(guest, ['ip', '-4', 'addr', 'show', 'eth0']).stdout, /inet 192\.168\.100\.77\//);

    // --current on an active network is live; dnsmasq re-reads its hosts (same process)
    const pid = dnsmasqPid('upd');
    assert.equal(dig('svc.lab'), undefined);
    assert.equal(ok(['net-update', 'upd', 'add-first', 'dns-host', DNS_HOST]), 'Updated network upd live state\n');
    assert.equal(dig('svc.lab'), '192.168.100.50');
    assert.equal(dnsmasqPid('upd'), pid, 'dnsmasq was restarted for a hosts change');
    assert.equal(
      ok(['net-update', 'upd', 'delete', 'dns-host', DNS_HOST, '--live']),
      'Updated network upd live state\n',
    );
    assert.equal(dig('svc.lab'), undefined);
    assert.equal(ok(['net-update', 'upd', 'delete', 'ip-dhcp-host', RESERVATION]), 'Updated network upd live state\n');
    assert.doesNotMatch(ok(['net-dumpxml', 'upd']), /fixed/);

    // both at once, then persistent only: the live definition keeps what only it was given
    assert.equal(
      ok(['net-update', 'upd', 'add-last', 'dns-host', DNS_HOST, '--live', '--config']),
      'Updated network upd persistent config and live state\n',
    );
    assert.equal(dig('svc.lab'), '192.168.100.50');
    const other = "<host mac='52:54:00:00:00:99' ip='192.168.100.99'/>";
    assert.equal(
      ok(['net-update', 'upd', 'add-last', 'ip-dhcp-host', other, '--config']),
      'Updated network upd persistent config\n',
    );
    assert.match(ok(['net-dumpxml', 'upd', '--inactive']), /192\.168\.100\.99[\s\S]*svc|svc[\s\S]*192\.168\.100\.99/);
    assert.doesNotMatch(ok(['net-dumpxml', 'upd']), /192\.168\.100\.99/);

    // a change of dnsmasq's command line (a DHCP range) restarts it
    assert.equal(
      ok(['net-update', 'upd', 'add-last', 'ip-dhcp-range', "<range start='192.168.100.30' end='192.168.100.40'/>"]),
      'Updated network upd live state\n',
    );
    const restarted = dnsmasqPid('upd');
    assert.notEqual(restarted, pid);
    assert.ok(!processRuns(Number(pid)), 'the old dnsmasq still runs');
    assert.equal(dig('svc.lab'), '192.168.100.50');

    // a transient network takes live changes only
    ok(['net-create', file('tr.xml', network('tr', 'vwbr1', '192.168.101'))]);
    const refused = cli(root, ['net-update', 'tr', 'add-last', 'dns-host', DNS_HOST, '--config']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /cannot change persistent config of a transient network/);
    assert.equal(
      ok([
        'net-update',
        'tr',
        'add-last',
        'ip-dhcp-host',
        "<host mac='52:54:00:00:00:98' ip='192.168.101.98'/>",
        '--live',
      ]),
      'Updated network tr live state\n',
    );
    assert.match(ok(['net-dumpxml', 'tr']), /192\.168\.101\.98/);
    assert.deepEqual(cli(root, ['net-update', 'tr', 'add-last', 'dns-host', DNS_HOST, '--current', '--live']), {
      status: 1,
      stdout: '',
      stderr: 'error: Options --current and --live are mutually exclusive\n',
    });

    // a dnsmasq that died comes back with the next reconcile, with the live hosts
    process.kill(Number(restarted), 'SIGKILL');
    d.child.kill('SIGHUP');
    assert.match(
      await waitForLog(d, /"network":"upd","msg":"dnsmasq was gone: restarted"/, 5000),
      /dnsmasq was gone: restarted/,
    );
    assert.equal(dig('svc.lab'), '192.168.100.50');

    const healed = dnsmasqPid('upd');
    ok(['net-destroy', 'tr']);
    ok(['net-destroy', 'upd']);
    assert.ok(!processRuns(Number(healed)), 'the restarted dnsmasq outlived its network');
  });
});

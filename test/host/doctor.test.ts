// `virtwall doctor` in namespaces this test creates: each bad condition is created, seen
// reported (exit 1, --json) with its fix, and not reported once it is gone: a foreign forward
// drop with foreign_forward_accept = 0, iptables-legacy rules, RA routes with IPv6 forwarding,
// another DHCP server, br_netfilter with a dropping chain, IP forwarding turned off and a
// running network's rules gone, a network's hosts files dnsmasq cannot read, dnsmasq missing, firewalld without libvirt's zones.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { BIN, cli, daemonFixture, kill9, startDaemon, stopAll } from '../daemon/process.js';
import { BUS_ADDRESS, FirewalldLab } from '../support/firewalld-lab.js';
import { waitFor } from '../../src/util/wait-for.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const NO_BUS = 'unix:path=/nonexistent/virtwall-test-bus';

interface Report {
  ok: boolean;
  checks: { id: string; status: string; findings: { severity: string; problem: string; fix: string }[] }[];
}

/** Runs doctor --json with `enter` (default: ip netns exec ns); returns exit status and the report. */
function doctor(
  enter: string[],
  root: string,
  env: Record<string, string> = {},
): { status: number; report: Report; stderr: string } {
  const [cmd, ...args] = [...enter, process.execPath, BIN, '--root', root, 'doctor', '--json'];
  const r = spawnSync(cmd!, args, {
    encoding: 'utf8',
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: NO_BUS, ...env },
    timeout: 60_000,
  });
  return {
    status: r.status ?? -1,
    report: JSON.parse(r.stdout || '{"ok":false,"checks":[]}') as Report,
    stderr: r.stderr,
  };
}

const check = (report: Report, id: string) => report.checks.find((c) => c.id === id)!;

/** Asserts `id` reports a problem matching `re` (and doctor exits 1), with a fix. */
function reported(d: ReturnType<typeof doctor>, id: string, re: RegExp): void {
  const c = check(d.report, id);
  assert.equal(c.status, 'problem', `${id} not reported: ${JSON.stringify(d.report)}\n${d.stderr}`);
  assert.ok(
    c.findings.some((f) => re.test(f.problem) && f.fix.length > 0),
    JSON.stringify(c.findings),
  );
  assert.equal(d.status, 1);
}

const clean = (d: ReturnType<typeof doctor>, id: string) =>
  assert.equal(check(d.report, id).status, 'ok', `${id}: ${JSON.stringify(check(d.report, id).findings)}`);

describe('virtwall doctor', { skip }, () => {
  after(() => stopAll());

  it('reports each bad condition of the host while it lasts', async (t) => {
    const { lab, ns, root } = daemonFixture(t, 'dr');
    const enter = ['ip', 'netns', 'exec', ns];
    mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
    writeFileSync(join(root, 'etc/virtwall/virtwall.conf'), 'foreign_forward_accept = 0\n');
    const sh = (script: string) => lab.sh(ns, script);

    const d = doctor(enter, root);
    for (const id of [
      'firewalld-zones',
      'foreign-forward-drop',
      'iptables-legacy',
      'br-netfilter',
      'ip-forwarding',
      'ipv6-accept-ra',
      'dnsmasq',
      'other-dhcp-or-libvirt',
      'tables-intact',
    ])
      clean(d, id);

    sh('iptables -P FORWARD DROP');
    reported(doctor(enter, root), 'foreign-forward-drop', /ip filter FORWARD .*has policy drop/);
    // the same as text: the table of checks, then each finding with its fix
    const text = spawnSync('ip', ['netns', 'exec', ns, process.execPath, BIN, '--root', root, 'doctor'], {
      encoding: 'utf8',
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: NO_BUS },
    });
    assert.equal(text.status, 1);
    assert.match(text.stdout, /^ Check +Status +What\n-+\n/);
    assert.match(text.stdout, /\n foreign-forward-drop +problem +/);
    assert.match(
      text.stdout,
      /\nforeign-forward-drop \(problem\): ip filter FORWARD .*\n  fix: set foreign_forward_accept = 1/,
    );
    // br_netfilter's sysctls are per namespace; where the module is not loaded there is nothing to check
    if (existsSync('/proc/sys/net/bridge')) {
      sh('sysctl -qw net.bridge.bridge-nf-call-iptables=1');
      reported(
        doctor(enter, root),
        'br-netfilter',
        /bridge-nf-call-iptables = 1.* and ip filter FORWARD drops by policy/,
      );
      sh(
        'sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0',
      );
      clean(doctor(enter, root), 'br-netfilter');
    }
    sh('iptables -P FORWARD ACCEPT');
    clean(doctor(enter, root), 'foreign-forward-drop');

    sh('iptables-legacy -A INPUT -s 192.0.2.1 -j DROP');
    reported(doctor(enter, root), 'iptables-legacy', /iptables-legacy holds 1 rule/);
    sh('iptables-legacy -F INPUT');
    clean(doctor(enter, root), 'iptables-legacy');

    sh(
      'ip link add dr0 type veth peer name dr1 && ip link set dr1 up && ip link set dr0 up && sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.conf.dr0.accept_ra=1 && ip -6 route add 2001:db8:1::/64 via fe80::1 dev dr0 proto ra',
    );
    reported(doctor(enter, root), 'ipv6-accept-ra', /without accept_ra set to 2 .* Interfaces to look at: dr0/);
    sh('sysctl -qw net.ipv6.conf.dr0.accept_ra=2');
    clean(doctor(enter, root), 'ipv6-accept-ra');

    // another DHCP server: a real dnsmasq serving DHCP on the dummy link
    sh('ip addr add 10.99.0.1/24 dev dr0');
    const other = lab.spawn(ns, [
      'dnsmasq',
      '-k',
      '--conf-file=/dev/null',
      '--port=0',
      '--interface=dr0',
      '--bind-interfaces',
      '--dhcp-range=10.99.0.10,10.99.0.20',
      '--leasefile-ro',
      '--pid-file=',
    ]);
    await waitFor(() => /:67\b/.test(lab.exec(ns, ['ss', '-H', '-lun']).stdout), {
      what: 'the other dnsmasq listening on port 67',
      timeout: 10_000,
    });
    reported(
      doctor(enter, root),
      'other-dhcp-or-libvirt',
      new RegExp(`dnsmasq \\(pid ${other.pid}\\) listens for DHCP`),
    );
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
    clean(doctor(enter, root), 'other-dhcp-or-libvirt');

    // dnsmasq missing: a PATH with the tools doctor uses, without dnsmasq
    const bin = mkdtempSync(join(tmpdir(), 'vwt-path-'));
    t.after(() => rmSync(bin, { recursive: true, force: true }));
    for (const tool of ['nft', 'ip', 'ss', 'iptables-legacy-save', 'ip6tables-legacy-save']) {
      const path = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      if (path) symlinkSync(path, join(bin, tool));
    }
    reported(doctor(enter, root, { PATH: bin }), 'dnsmasq', /dnsmasq does not run/);
  });

  it('reports forwarding turned off and rules gone under a running network', async (t) => {
    const { lab, ns, root, file } = daemonFixture(t, 'dn');
    const enter = ['ip', 'netns', 'exec', ns];
    const d = await startDaemon(ns, root);
    const xml =
      "<network><name>fw</name><forward mode='nat'/><bridge name='vwdoc0'/><ip address='192.168.150.1' prefix='24'/></network>";
    assert.equal(cli(root, ['net-create', file('fw.xml', xml)]).status, 0);
    let r = doctor(enter, root);
    clean(r, 'ip-forwarding');
    clean(r, 'tables-intact');
    // the daemon would repair what follows: it is gone, as after a crash
    await kill9(d);
    lab.sh(ns, 'sysctl -qw net.ipv4.ip_forward=0 && nft delete table ip libvirt_network');
    r = doctor(enter, root);
    reported(r, 'ip-forwarding', /net\.ipv4\.ip_forward is 0 while fw forward/);
    reported(r, 'tables-intact', /network fw lacks \d+ of its \d+ firewall rule parts/);
  });

  it("reports a running network's hosts files that dnsmasq cannot reach", async (t) => {
    const { ns, root, file } = daemonFixture(t, 'dh');
    const enter = ['ip', 'netns', 'exec', ns];
    await startDaemon(ns, root);
    const xml =
      "<network><name>hosts</name><bridge name='vwdoc1'/><dns><host ip='192.168.151.9'><hostname>svc</hostname></host></dns><ip address='192.168.151.1' prefix='24'/></network>";
    assert.equal(cli(root, ['net-create', file('hosts.xml', xml)]).status, 0);
    clean(doctor(enter, root), 'dnsmasq-hosts-reach');
    // as when the state root sits in a folder made by mktemp -d
    chmodSync(root, 0o700);
    reported(
      doctor(enter, root),
      'dnsmasq-hosts-reach',
      new RegExp(`network hosts: .*cannot pass folder ${root} \\(mode 0700\\)`),
    );
    chmodSync(root, 0o711);
  });

  const libvirtd = '/usr/sbin/libvirtd';
  it("reports libvirt's own network daemon in the same namespace", {
    skip: existsSync(libvirtd) ? false : 'libvirtd is not installed',
  }, async (t) => {
    const { lab, ns, root } = daemonFixture(t, 'dl');
    // libvirtd gets the private mounts (its /run/libvirt, /var/lib/libvirt) and only its network driver
    const box = new FirewalldLab(lab, ns);
    await box.start(t, { firewalld: false });
    const drivers = join(box.scratch, 'drivers');
    mkdirSync(drivers);
    symlinkSync(
      '/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_network.so',
      join(drivers, 'libvirt_driver_network.so'),
    );
    writeFileSync(
      join(box.scratch, 'libvirtd.conf'),
      'unix_sock_group = "root"\nunix_sock_rw_perms = "0700"\nauth_unix_rw = "none"\n',
    );
    box.exec(['mkdir', '-p', '/run/libvirt', '/var/lib/libvirt', '/var/cache/libvirt', '/var/log/libvirt']);
    const daemon = box.spawn([
      'env',
      `LIBVIRT_DRIVER_DIR=${drivers}`,
      libvirtd,
      '-f',
      join(box.scratch, 'libvirtd.conf'),
    ]);
    await waitFor(() => box.exec(['test', '-S', '/run/libvirt/libvirt-sock'], false).status === 0, {
      what: "libvirtd's socket",
      timeout: 30_000,
    });
    reported(
      doctor(['ip', 'netns', 'exec', ns], root),
      'other-dhcp-or-libvirt',
      new RegExp(`libvirt's libvirtd \\(pid ${daemon.pid}\\) runs in this network namespace`),
    );
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
    clean(doctor(['ip', 'netns', 'exec', ns], root), 'other-dhcp-or-libvirt');
  });

  it("reports firewalld without libvirt's zones until virtwalld adds them", async (t) => {
    const { lab, ns, root, file } = daemonFixture(t, 'df');
    const fwd = new FirewalldLab(lab, ns);
    await fwd.start(t);
    const env = { DBUS_SYSTEM_BUS_ADDRESS: BUS_ADDRESS };
    reported(
      doctor(fwd.enter, root, env),
      'firewalld-zones',
      /firewalld runs without libvirt's zone libvirt, zone libvirt-routed, policy libvirt-routed-in/,
    );
    await startDaemon(ns, root, env, fwd.enter);
    assert.equal(
      cli(root, [
        'net-create',
        file(
          'z.xml',
          "<network><name>z</name><forward mode='nat'/><bridge name='vwz0'/><ip address='192.168.160.1' prefix='24'/></network>",
        ),
      ]).status,
      0,
    );
    clean(doctor(fwd.enter, root, env), 'firewalld-zones');
    // firewalld loses the bridge's zone while virtwalld does not hear it (stopped)
    stopAll();
    fwd.firewallCmd('--zone=public', '--change-interface=vwz0');
    reported(
      doctor(fwd.enter, root, env),
      'firewalld-zones',
      /bridge vwz0 of network z is in firewalld zone 'public', not 'libvirt'/,
    );
  });
});

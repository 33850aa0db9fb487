// `virtwall nwfilter-trace` on the real kernel: a daemon in a namespace with clean-traffic and
// mac_filter on two ports; a guest sends packets from an address not its own, and from a MAC not
// its own; the trace names the port, the drop and the rule that dropped them (clean-traffic's,
// mac_filter). Tracing touches only the traced port: every other port's dispatch entries, every
// chain their packets can reach and the hooked chains are as without tracing (listings compared);
// it is gone after --count, Ctrl-C, kill -9 of the CLI, and kill -9 of the daemon (with and
// without table ownership) once the daemon is restarted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../src/util/wait-for.js';
import { canUseNetns } from '../support/netns.js';
import { DASHBOARD_PORT, fetchIn } from './scenario.js';
import {
  BIN,
  cleanTrafficGuests,
  cli,
  daemonFixture,
  kill9,
  startDaemon,
  type DaemonProcess,
  type FilteredGuest,
} from '../daemon/process.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const GUESTS: FilteredGuest[] = [
  { tap: 'vnet1', mac: '52:54:00:79:00:11', ip: '10.79.0.11', uuid: '7d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4b11' },
  { tap: 'vnet2', mac: '52:54:00:79:00:12', ip: '10.79.0.12', uuid: '7d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4b12' },
];
const SPOOFED = '10.79.0.99';

interface Trace {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

/** The CLI's nwfilter-trace as a process; resolves once the daemon said it is tracing. */
async function trace(root: string, args: string[]): Promise<Trace> {
  const child = spawn(process.execPath, [BIN, '--root', root, 'nwfilter-trace', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`nwfilter-trace exited: ${err}`);
      return err.includes('Tracing');
    },
    { what: 'nwfilter-trace tracing', timeout: 30_000, detail: () => err },
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** The namespace's ruleset as nft's JSON items. */
function ruleset(lab: ReturnType<typeof daemonFixture>['lab'], ns: string): Record<string, Record<string, unknown>>[] {
  return (JSON.parse(lab.exec(ns, ['nft', '-j', 'list', 'ruleset']).stdout) as { nftables: [] }).nftables;
}

/** Our filters' tables' objects, without counters (state, not rules). */
const ourObjects = (lab: ReturnType<typeof daemonFixture>['lab'], ns: string) =>
  (
    JSON.parse(
      JSON.stringify(
        ruleset(lab, ns).filter((item) => {
          const o = Object.values(item)[0]!;
          return o['table'] === 'virtwall_nwf' || (item['table'] && o['name'] === 'virtwall_nwf');
        }),
      ).replace(/"counter":\{"packets":\d+,"bytes":\d+\}/g, '"counter":{}'),
    ) as Record<string, Record<string, unknown>>[]
  ).map((item) => Object.entries(item)[0]!);
const filterTables = (lab: ReturnType<typeof daemonFixture>['lab'], ns: string) => JSON.stringify(ourObjects(lab, ns));

/** Trace chains and the rules and elements naming one (none: no tracing left). */
const traceObjects = (lab: ReturnType<typeof daemonFixture>['lab'], ns: string) =>
  ourObjects(lab, ns).filter(([, o]) => /_trace|nftrace/.test(JSON.stringify(o)));

/**
 * The listing as the packets of ports other than `traced` see it: without trace chains, and
 * without `traced`'s elements (keyed by its name or, in the inet table, its marks).
 */
function untraced(lab: ReturnType<typeof daemonFixture>['lab'], ns: string, traced: string): string {
  const objects = ourObjects(lab, ns);
  const marks = objects
    .filter(([kind, o]) => kind === 'map' && String(o['name']).startsWith('port_mark_'))
    .flatMap(([, o]) => ((o['elem'] ?? []) as [unknown, unknown][]).filter(([k]) => k === traced).map(([, v]) => v));
  const theirs = (e: unknown) => {
    const key = Array.isArray(e) ? e[0] : e;
    const first = (key as { concat?: unknown[] })?.concat?.[0] ?? key;
    return first === traced || marks.includes(first as number);
  };
  return JSON.stringify(
    objects
      .filter(([kind, o]) => !(kind === 'chain' && String(o['name']).includes('_trace')))
      .filter(([kind, o]) => !(kind === 'rule' && String(o['chain']).includes('_trace')))
      // (nft lists no `elem` for an empty set)
      .map(([kind, o]) =>
        kind === 'map' || kind === 'set'
          ? [kind, { ...o, elem: ((o['elem'] ?? []) as unknown[]).filter((e) => !theirs(e)) }]
          : [kind, o],
      ),
  );
}

/** Every hooked chain of the namespace, in any table, with its rules: what every packet runs. */
function hooked(lab: ReturnType<typeof daemonFixture>['lab'], ns: string): string {
  const objects = ruleset(lab, ns).map((item) => Object.entries(item)[0]!);
  const chainOf = (o: Record<string, unknown>) => `${o['family']} ${o['table']} ${o['chain'] ?? o['name']}`;
  const hooks = new Set(objects.filter(([k, o]) => k === 'chain' && o['hook']).map(([, o]) => chainOf(o)));
  return JSON.stringify(objects.filter(([k, o]) => (k === 'chain' || k === 'rule') && hooks.has(chainOf(o)))).replace(
    /"counter":\{"packets":\d+,"bytes":\d+\}/g,
    '"counter":{}',
  );
}

async function noTraceLeft(lab: ReturnType<typeof daemonFixture>['lab'], ns: string, what: string): Promise<void> {
  await waitFor(() => traceObjects(lab, ns).length === 0, {
    what: `no trace objects left ${what}`,
    timeout: 10_000,
    detail: () => JSON.stringify(traceObjects(lab, ns)),
  });
}

/** Guest g0 pings g1 from an address not its own (the neighbour known: no ARP to drop first). */
function spoof(lab: ReturnType<typeof daemonFixture>['lab'], g0: string, count: number): void {
  lab.exec(g0, ['ip', 'neigh', 'replace', GUESTS[1]!.ip, 'lladdr', GUESTS[1]!.mac, 'dev', 'eth0']);
  lab.exec(g0, ['ip', 'addr', 'replace', `${SPOOFED}/32`, 'dev', 'eth0']);
  lab.exec(g0, ['ping', '-c', String(count), '-i', '0.2', '-W', '1', '-I', SPOOFED, GUESTS[1]!.ip], false);
  lab.exec(g0, ['ip', 'addr', 'del', `${SPOOFED}/32`, 'dev', 'eth0']);
}

/** nwfilter-trace --json's output: one object a line. */
const jsonLines = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('virtwall nwfilter-trace', { skip }, () => {
  it('traces a spoofing guest on its port only, names the rule, and leaves nothing behind', async (t) => {
    const fixture = daemonFixture(t, 'tr');
    const { lab, ns: host, root } = fixture;
    let daemon: DaemonProcess = await startDaemon(host, root);
    const owner = /"nwfilterTableOwnership":"owner"/.test(daemon.log());
    const [g0, g1] = cleanTrafficGuests(fixture, '10.79.0.1', GUESTS, ['--mac-filter']) as [string, string];
    // the guests' own IPv6 chatter (MLD reports, dropped by clean-traffic too) would take the count
    for (const g of [g0, g1]) lab.exec(g, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    const before = filterTables(lab, host);

    // --json --verdict drop --count: the spoofed pings, as drops by clean-traffic's no-ip-spoofing
    const others = untraced(lab, host, 'vnet1');
    const hooks = hooked(lab, host);
    const drops = await trace(root, [GUESTS[0]!.tap, '--json', '--verdict', 'drop', '--count', '3']);
    // no cost to other ports: what their packets can evaluate is the same, rule for rule
    assert.equal(untraced(lab, host, 'vnet1'), others, "other ports' entries and chains are not touched");
    assert.equal(hooked(lab, host), hooks, 'the hooked chains are not touched');
    assert.notEqual(filterTables(lab, host), before);
    const entries = ourObjects(lab, host).filter(
      ([k, o]) => k === 'map' && /^(from|to)_port_g\d+$/.test(String(o['name'])),
    );
    for (const [, m] of entries)
      assert.match(JSON.stringify((m['elem'] as unknown[]).find((e) => (e as unknown[])[0] === 'vnet1')), /_trace/);
    const macPorts = ourObjects(lab, host).find(([k, o]) => k === 'set' && o['name'] === 'mac_filter_ports')![1];
    assert.deepEqual(macPorts['elem'], ['vnet2'], "the traced port's MAC is checked in its trace chain");
    spoof(lab, g0, 5);
    assert.equal(await drops.exited, 0, drops.stderr());
    const lines = jsonLines(drops.stdout());
    assert.equal(lines.length, 3, drops.stdout());
    for (const l of lines) {
      assert.equal(l['port'], 'vnet1');
      assert.equal(l['direction'], 'from');
      assert.equal(l['verdict'], 'drop');
      assert.match(
        String(l['packet']),
        new RegExp(`ip ${SPOOFED.replace(/\./g, '\\.')} > 10\\.79\\.0\\.12 icmp type 8`),
      );
      assert.match(String(l['filter']), /^clean-traffic\/.*no-ip-spoofing$/);
      assert.ok(Number.isInteger(l['priority']));
      assert.ok(
        (l['rules'] as string[]).some((r) => r.startsWith("<rule action='drop'")),
        `the dropping rule's XML: ${JSON.stringify(l['rules'])}`,
      );
    }
    await noTraceLeft(lab, host, 'after --count');
    assert.equal(filterTables(lab, host), before);

    // a frame from a MAC not the guest's: dropped by mac_filter, traced
    const macDrop = await trace(root, [GUESTS[0]!.tap, '--json', '--verdict', 'drop', '--count', '1']);
    lab.exec(g0, ['ip', 'link', 'set', 'eth0', 'address', '52:54:00:79:00:99']);
    lab.exec(g0, ['ip', 'neigh', 'replace', GUESTS[1]!.ip, 'lladdr', GUESTS[1]!.mac, 'dev', 'eth0']);
    lab.exec(g0, ['ping', '-c', '3', '-i', '0.2', '-W', '1', GUESTS[1]!.ip], false);
    lab.exec(g0, ['ip', 'link', 'set', 'eth0', 'address', GUESTS[0]!.mac]);
    assert.equal(await macDrop.exited, 0, macDrop.stderr());
    const [macLine] = jsonLines(macDrop.stdout());
    assert.deepEqual(
      [macLine!['port'], macLine!['direction'], macLine!['verdict'], macLine!['by']],
      ['vnet1', 'from', 'drop', 'mac_filter'],
      macDrop.stdout(),
    );
    assert.match(String(macLine!['packet']), /^52:54:00:79:00:99 > /);
    await noTraceLeft(lab, host, 'after the MAC drop');
    assert.equal(filterTables(lab, host), before);

    // text lines; the other port is not traced: g1's own pings to g0 show only as g0's port's
    const text = await trace(root, [GUESTS[0]!.tap, '--count', '2']);
    lab.exec(g1, ['ping', '-c', '4', '-i', '0.2', '-W', '1', GUESTS[0]!.ip], false);
    assert.equal(await text.exited, 0, text.stderr());
    const textLines = text.stdout().trim().split('\n');
    assert.equal(textLines.length, 2, text.stdout());
    for (const l of textLines) assert.match(l, /^\d\d:\d\d:\d\d\.\d{3} vnet1 (from|to) accept .* \| \S/);
    await noTraceLeft(lab, host, 'after --count in text mode');

    // Ctrl-C, kill -9 of the CLI
    const interrupted = await trace(root, []);
    assert.equal(traceObjects(lab, host).length > 0, true);
    interrupted.child.kill('SIGINT');
    assert.equal(await interrupted.exited, 0, interrupted.stderr());
    await noTraceLeft(lab, host, 'after SIGINT of the CLI');
    const killed = await trace(root, ['vnet2']);
    killed.child.kill('SIGKILL');
    await killed.exited;
    await noTraceLeft(lab, host, 'after kill -9 of the CLI');

    // kill -9 of the daemon while tracing: the trace stays in its tables until a daemon starts again
    const orphan = await trace(root, ['vnet1']);
    await kill9(daemon);
    await orphan.exited;
    assert.ok(traceObjects(lab, host).length > 0, `traced entries outlive the killed daemon (owner: ${owner})`);
    daemon = await startDaemon(host, root);
    await noTraceLeft(lab, host, 'after kill -9 and restart of the daemon');
    assert.equal(filterTables(lab, host), before);
    // still works after the restart
    const again = await trace(root, ['vnet1', '--verdict', 'drop', '--count', '1']);
    spoof(lab, g0, 3);
    assert.equal(await again.exited, 0, again.stderr());
    assert.match(
      again.stdout(),
      /vnet1 from drop .* \| clean-traffic\/.*no-ip-spoofing prio=-?\d+ <rule action='drop'/,
    );
    await noTraceLeft(lab, host, 'after the last trace');
  });

  it('without table ownership, a restarted daemon stops the trace the killed one left; the dashboard samples dropped packets', async (t) => {
    const fixture = daemonFixture(t, 'tu');
    const { lab, ns: host, root } = fixture;
    mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
    // the dashboard only from the restart on: its sampler traces the ports of any drop it sees
    // (the guests' first IPv6 frames), which would be in the tables compared below
    const conf = join(root, 'etc/virtwall/virtwall.conf');
    writeFileSync(conf, 'nwfilter_table_owner = 0\n');
    let daemon = await startDaemon(host, root);
    const [g0, g1] = cleanTrafficGuests(fixture, '10.79.0.1', GUESTS) as [string, string];
    for (const g of [g0, g1]) lab.exec(g, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    const before = filterTables(lab, host);
    const orphan = await trace(root, ['vnet1']);
    await kill9(daemon);
    await orphan.exited;
    assert.ok(traceObjects(lab, host).length > 0, 'traced entries outlive their daemon');
    writeFileSync(conf, `nwfilter_table_owner = 0\ndashboard_listen = "127.0.0.1:${DASHBOARD_PORT}"\n`);
    daemon = await startDaemon(host, root);
    assert.deepEqual(traceObjects(lab, host), [], 'the restarted daemon stopped the trace before serving');
    assert.equal(filterTables(lab, host), before);

    // the dashboard: counters show the drops, a short trace of the dropping port names the packets
    const samples = () =>
      (
        JSON.parse(fetchIn(host, `http://127.0.0.1:${DASHBOARD_PORT}/state.json`).body) as {
          dropSamples: Record<string, unknown>[];
        }
      ).dropSamples;
    assert.deepEqual(samples(), [], 'nothing sampled before any drop');
    spoof(lab, g0, 25);
    const got = samples();
    assert.ok(got.length > 0 && got.length <= 20, JSON.stringify(got));
    for (const l of got) {
      assert.equal(l['port'], 'vnet1');
      assert.equal(l['verdict'], 'drop');
      assert.match(String(l['packet']), / ip 10\.79\.0\.99 > /);
      assert.match(String(l['filter']), /no-ip-spoofing$/);
    }
    await noTraceLeft(lab, host, 'after the sampling trace');
  });

  it('names IP-level rules (libvirt iptables rules) in both directions', async (t) => {
    const fixture = daemonFixture(t, 'ti');
    const { lab, ns: host, root, file } = fixture;
    await startDaemon(host, root);
    const filter = `<filter name='trace-ip' chain='root'>
  <rule action='drop' direction='out' priority='500'><icmp type='8'/></rule>
  <rule action='drop' direction='in' priority='510'><icmp type='8'/></rule>
</filter>`;
    assert.equal(cli(root, ['nwfilter-define', file('f.xml', filter)]).status, 0);
    // the other port has IP rules too (its own marks and inet entries), none for ICMP
    const other = `<filter name='trace-ip2' chain='root'><rule action='accept' direction='out' priority='500'><tcp dstportstart='22'/></rule></filter>`;
    assert.equal(cli(root, ['nwfilter-define', file('f2.xml', other)]).status, 0);
    const net = `<network><name>n</name><bridge name='vbr0' stp='off'/><dns enable='no'/><ip address='10.79.0.1' prefix='24'/></network>`;
    assert.equal(cli(root, ['net-create', file('net.xml', net)]).status, 0);
    const guests = GUESTS.map((g, i) => {
      const ns = lab.netns(`g${i}`);
      lab.veth(host, g.tap, ns, 'eth0', { mac: g.mac });
      lab.exec(ns, ['ip', 'addr', 'add', `${g.ip}/24`, 'dev', 'eth0']);
      lab.exec(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
      const port = file(
        `${g.tap}.xml`,
        `<networkport><uuid>${g.uuid}</uuid><owner><name>g${i}</name><uuid>${g.uuid}</uuid></owner><mac address='${g.mac}'/></networkport>`,
      );
      const args = ['net-port-create', 'n', port, '--tap', g.tap, '--filter', i === 0 ? 'trace-ip' : 'trace-ip2'];
      assert.equal(cli(root, args).status, 0);
      return ns;
    });
    const others = untraced(lab, host, 'vnet1');
    const hooks = hooked(lab, host);
    const drops = await trace(root, ['vnet1', '--json', '--verdict', 'drop', '--count', '2']);
    assert.equal(untraced(lab, host, 'vnet1'), others, "other ports' entries and chains are not touched");
    assert.equal(hooked(lab, host), hooks, 'the hooked chains are not touched');
    const inet = ourObjects(lab, host).filter(([k, o]) => k === 'map' && o['family'] === 'inet');
    assert.equal(inet.length, 3, 'fwd_from_port, fwd_to_port, host_from_port');
    for (const [, m] of inet)
      assert.equal(JSON.stringify(m['elem']).match(/_trace/g)?.length, 1, `${m['name']}: vnet1's entry only`);
    lab.exec(guests[0]!, ['ping', '-c', '1', '-W', '1', GUESTS[1]!.ip], false);
    lab.exec(guests[1]!, ['ping', '-c', '1', '-W', '1', GUESTS[0]!.ip], false);
    assert.equal(await drops.exited, 0, drops.stderr());
    const lines = jsonLines(drops.stdout());
    assert.deepEqual(
      lines.map((l) => [l['port'], l['direction'], l['verdict'], l['filter'], l['priority'], l['rules']]),
      [
        [
          'vnet1',
          'from',
          'drop',
          'trace-ip',
          500,
          ["<rule action='drop' direction='out' priority='500'><icmp type='8'/></rule>"],
        ],
        [
          'vnet1',
          'to',
          'drop',
          'trace-ip',
          510,
          ["<rule action='drop' direction='in' priority='510'><icmp type='8'/></rule>"],
        ],
      ],
      drops.stdout(),
    );
    await noTraceLeft(lab, host, 'after --count');
  });

  it('says what the ebiptables backend cannot trace', async (t) => {
    const fixture = daemonFixture(t, 'te');
    const { root, ns: host } = fixture;
    mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
    writeFileSync(join(root, 'etc/virtwall/virtwall.conf'), 'nwfilter_backend = "ebiptables"\n');
    await startDaemon(host, root);
    const r = cli(root, ['nwfilter-trace']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /needs the nftables backend/);
    assert.match(r.stderr, /ebtables-nft and iptables-nft rules: nftables tracing sees them/);
  });
});

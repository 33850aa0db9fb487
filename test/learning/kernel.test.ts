// IP address learning on real traffic, for both nwfilter backends through the NwfilterBackend
// interface: namespace `host` holds bridge br0 with a DHCP server (dnsmasq, v4 and v6), guest
// `a` sits on port vnet0 (the filtered one), and `rogue` on vnet1 runs its own DHCP server.
// The learner watches vnet0 with the traffic mechanism (tcpdump) and its callback re-applies
// the port's filter, as the daemon will.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EbiptablesBackend } from '../../src/backends/ebiptables/backend.js';
import { NftablesBackend } from '../../src/backends/nftables/backend.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import { SystemRunner } from '../../src/exec/runner.js';
import { observeTraffic } from '../../src/learning/capture.js';
import { LearningManager, type LearningPort, type SavedLearning } from '../../src/learning/manager.js';
import { learningPortOf, portFilterFor } from '../../src/learning/port-filter.js';
import type { NwfilterBackend, NwfilterBackendName } from '../../src/nwfilter/backend.js';
import type { FilterBinding } from '../../src/nwfilter/binding.js';
import { MapFilterSource } from '../../src/nwfilter/source.js';
import { waitFor } from '../../src/util/wait-for.js';
import { dhcp as dhclient, peerServer } from '../support/guest.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';
import { dhcp as dhcpFrame, dhcpv6 as dhcpv6Frame } from './craft.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';

const MAC = { host: '52:54:00:77:00:01', a: '52:54:00:77:00:0a', rogue: '52:54:00:77:00:66' };
// ll: br0's link-local address, derived from its MAC (EUI-64)
const HOST = { v4: '10.77.0.1', v6: 'fd77::1', ll: 'fe80::5054:ff:fe77:1' };
const ROGUE = { v4: '10.77.0.254', v6: 'fd77::254' };
const PORT = { v4: 7001, v6: 7002 };

// Test filters. Lists of learned addresses need positive matches ('return' for each address,
// then drop), as in libvirt's no-ip-spoofing: a negated match per address would drop all.
const FILTERS = new MapFilterSource(
  [
    `<filter name='vw-any4' chain='ipv4'>
       <rule action='return' direction='out'><ip srcipaddr='$IP'/></rule>
       <rule action='drop' direction='out' priority='1000'/>
     </filter>`,
    `<filter name='vw-any6' chain='ipv6'>
       <rule action='accept' direction='out' priority='100'><ipv6 protocol='icmpv6'/></rule>
       <rule action='return' direction='out'><ipv6 srcipaddr='$IPV6'/></rule>
       <rule action='drop' direction='out' priority='1000'/>
     </filter>`,
    `<filter name='vw-dhcp4' chain='ipv4'>
       <rule action='accept' direction='out' priority='100'><ip srcmacaddr='$MAC' protocol='udp' srcportstart='68' dstportstart='67'/></rule>
       <rule action='return' direction='out'><ip srcipaddr='$IP'/></rule>
       <rule action='drop' direction='out' priority='1000'/>
       <rule action='accept' direction='in' priority='100'><ip srcipaddr='$DHCPSERVER' protocol='udp' srcportstart='67' dstportstart='68'/></rule>
       <rule action='drop' direction='in' priority='200'><ip protocol='udp' srcportstart='67' dstportstart='68'/></rule>
     </filter>`,
    `<filter name='vw-dhcp6' chain='ipv6'>
       <rule action='accept' direction='out' priority='100'><ipv6 srcmacaddr='$MAC' protocol='udp' srcportstart='546' dstportstart='547'/></rule>
       <rule action='accept' direction='out' priority='100'><ipv6 protocol='icmpv6'/></rule>
       <rule action='return' direction='out'><ipv6 srcipaddr='$IPV6'/></rule>
       <rule action='drop' direction='out' priority='1000'/>
       <rule action='accept' direction='in' priority='100'><ipv6 srcipaddr='$DHCPSERVERV6' protocol='udp' srcportstart='547' dstportstart='546'/></rule>
       <rule action='drop' direction='in' priority='200'><ipv6 protocol='udp' srcportstart='547' dstportstart='546'/></rule>
     </filter>`,
  ].map((x) => parseFilter(x)),
);

const PROBE = `
import socket, sys
src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ':' in dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(2)
try:
    s.bind((src, 0))
    s.connect((dst, port))
    print(s.recv(200).decode().strip())
except Exception as e:
    print('FAIL ' + type(e).__name__)
    sys.exit(1)
`;

const RAW_SEND = `
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
s.send(bytes.fromhex(sys.argv[2]))
`;

interface Rig {
  lab: NetnsLab;
  host: string;
  a: string;
  rogue: string;
  runner: SystemRunner;
  backend: NwfilterBackend;
  manager: LearningManager;
  /** Settles after every filter change the learner asked for so far. */
  settled(): Promise<void>;
  /** Restarts the learner from its saved state (as a daemon restart would). */
  restart(): Promise<void>;
  /** Frames the learner handed in (a restored complete lock must capture none). */
  observed: () => number;
  binding: FilterBinding;
}

const until = (what: string, cond: () => boolean | Promise<boolean>, timeout = 15_000, detail?: () => string) =>
  waitFor(cond, { what, timeout, detail });

function dnsmasq(lab: NetnsLab, ns: string, iface: string, v4Range: string, v6Range: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'vwt-dnsmasq-'));
  lab.spawn(ns, [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--port=0',
    `--interface=${iface}`,
    '--bind-interfaces',
    '--except-interface=lo',
    `--dhcp-range=${v4Range},2m`,
    `--dhcp-range=${v6Range},64,2m`,
    `--dhcp-leasefile=${join(dir, 'leases')}`,
    '--pid-file=',
    '--dhcp-authoritative',
  ]);
}

function linkLocal(lab: NetnsLab, ns: string, dev: string): string {
  const out = lab.exec(ns, ['ip', '-6', '-o', 'addr', 'show', 'dev', dev, 'scope', 'link']).stdout;
  return /inet6 (\S+)\//.exec(out)![1]!;
}

async function rig(
  t: TestContext,
  backendName: NwfilterBackendName,
  filter: string,
  params: Record<string, string[]>,
  needs: LearningPort['needs'],
): Promise<Rig> {
  const lab = new NetnsLab();
  t.after(() => lab.cleanup());
  const host = lab.netns('host');
  const a = lab.netns('a');
  const rogue = lab.netns('rogue');
  // no duplicate address detection: addresses usable at once, however busy the machine
  for (const ns of [host, a, rogue])
    lab.exec(ns, ['sysctl', '-qw', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.all.accept_dad=0']);
  lab.bridge(host, 'br0');
  lab.exec(host, ['ip', 'link', 'set', 'br0', 'address', MAC.host]);
  // down and up again: the link-local address is made anew from the MAC
  lab.exec(host, ['ip', 'link', 'set', 'br0', 'down']);
  lab.exec(host, ['ip', 'link', 'set', 'br0', 'up']);
  lab.exec(host, ['ip', 'addr', 'add', `${HOST.v4}/24`, 'dev', 'br0']);
  lab.exec(host, ['ip', 'addr', 'add', `${HOST.v6}/64`, 'dev', 'br0', 'nodad']);
  lab.exec(host, ['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1']);
  lab.veth(host, 'vnet0', a, 'eth0', { bridge: 'br0', mac: MAC.a });
  lab.veth(host, 'vnet1', rogue, 'eth0', { bridge: 'br0', mac: MAC.rogue });
  lab.exec(rogue, ['ip', 'addr', 'add', `${ROGUE.v4}/24`, 'dev', 'eth0']);
  lab.exec(rogue, ['ip', 'addr', 'add', `${ROGUE.v6}/64`, 'dev', 'eth0', 'nodad']);
  const linkState = () =>
    [
      [host, 'br0'],
      [a, 'eth0'],
      [rogue, 'eth0'],
    ].map(([ns, dev]) => lab.exec(ns!, ['ip', '-6', '-o', 'addr', 'show', 'dev', dev!], false).stdout);
  await until(
    'link-local addresses',
    () => linkState().every((s) => /inet6 fe80/.test(s) && !/tentative/.test(s)),
    30_000,
    () => linkState().join(''),
  );
  await peerServer(lab, host, HOST.v4, PORT.v4);
  await peerServer(lab, host, HOST.v6, PORT.v6);

  const runner = new SystemRunner({ netns: host });
  const makeBackend = async () =>
    backendName === 'nftables' ? NftablesBackend.create(runner) : new EbiptablesBackend(runner);
  let backend = await makeBackend();
  const binding: FilterBinding = { portdev: 'vnet0', mac: MAC.a, filter, params: new Map(Object.entries(params)) };
  let pending: Promise<void> = Promise.resolve();
  let failure: unknown;
  const applyFor = (learned: { ipv4: string[]; ipv6: string[] }) => {
    const plan = portFilterFor(binding, FILTERS, learned);
    pending = pending
      .then(() => backend.apply({ set: [plan.filter], remove: [] }))
      .catch((err) => {
        failure = err;
      });
    return plan;
  };
  let frames = 0;
  const options = {
    onAddressesChanged: (_port: string, c: { ipv4: string[]; ipv6: string[] }) => applyFor(c),
    observe: (port: LearningPort, deliver: (f: Uint8Array, g: boolean) => void, fail: (message: string) => void) =>
      observeTraffic(
        port,
        (f, g) => {
          frames++;
          deliver(f, g);
        },
        { wrap: (argv) => ['ip', 'netns', 'exec', host, ...argv], onError: (_p, m) => fail(m) },
      ),
    onLearningFailed: (_port: string, message: string) => {
      failure = new Error(`learning failed: ${message}`);
    },
    expiryTimer: true,
  };
  // bind: the learning policy first, then the learner
  const plan = applyFor({ ipv4: [], ipv6: [] });
  assert.deepEqual(plan.learning, { mode: params.CTRL_IP_LEARNING?.[0] ?? 'any', ...needs });
  const port = learningPortOf(binding, plan.learning!);
  await pending;
  let manager = new LearningManager(options);
  t.after(() => manager.close());
  manager.watch(port);
  await manager.ready('vnet0');

  const r: Rig = {
    lab,
    host,
    a,
    rogue,
    runner,
    backend,
    manager,
    binding,
    observed: () => frames,
    settled: async () => {
      await pending;
      if (failure) throw failure;
    },
    restart: async () => {
      await r.settled();
      const saved = JSON.parse(JSON.stringify(manager.toJSON())) as SavedLearning;
      manager.close();
      backend = await makeBackend();
      r.backend = backend;
      frames = 0;
      manager = LearningManager.fromJSON(saved, options);
      r.manager = manager;
      await r.settled();
    },
  };
  return r;
}

/**
 * The address the host's server saw for a connection from `src`, or undefined if it failed
 * twice (one retry: a busy machine can lose a first attempt to neighbour discovery).
 */
function seenFrom(r: Rig, src: string): string | undefined {
  const v6 = src.includes(':');
  for (let attempt = 0; attempt < 2; attempt++) {
    const res = r.lab.exec(
      r.a,
      ['python3', '-c', PROBE, src, v6 ? HOST.v6 : HOST.v4, String(v6 ? PORT.v6 : PORT.v4)],
      false,
    );
    if (res.status === 0) return res.stdout.trim();
  }
  return undefined;
}

const addAddr = (r: Rig, cidr: string) =>
  r.lab.exec(r.a, ['ip', 'addr', 'add', cidr, 'dev', 'eth0', ...(cidr.includes(':') ? ['nodad'] : [])]);

function sendRaw(r: Rig, ns: string, dev: string, frame: Uint8Array): void {
  r.lab.exec(ns, ['python3', '-c', RAW_SEND, dev, Buffer.from(frame).toString('hex')]);
}

const learnedOn = (r: Rig) => {
  const l = r.manager.learned('vnet0')!.state;
  return { ipv4: l.ipv4.map((x) => x.address), ipv6: l.ipv6.map((x) => x.address) };
};

/**
 * Sources of the DHCP (DHCPv6) answers that the guest received and that the rogue sent while
 * `fn` ran (`exchanges` of them): the rogue must really have answered for its absence at the guest
 * to mean anything.
 */
async function dhcpAnswersDuring(
  r: Rig,
  v6: boolean,
  exchanges: number,
  fn: () => void,
): Promise<{ guest: string[]; rogue: string[] }> {
  const listen = async (ns: string, dir: string) => {
    const child = r.lab.spawn(ns, [
      'tcpdump',
      '-i',
      'eth0',
      '-n',
      '-l',
      '-Q',
      dir,
      v6 ? 'udp src port 547' : 'udp src port 67',
    ]);
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    await until('tcpdump', () => err.includes('listening on'));
    return { child, sources: () => [...out.matchAll(/IP6? (\S+)\.(?:67|547) >/g)].map((m) => m[1]!) };
  };
  const guest = await listen(r.a, 'in');
  const rogue = await listen(r.rogue, 'out');
  fn();
  // Each exchange ends with the trusted server's second answer (ACK, Reply); anything the rogue
  // sent reached the guest before that, so the guest's capture has shown it by then.
  await until(
    'the answers in the captures',
    () =>
      guest.sources().filter((s) => s === (v6 ? HOST.ll : HOST.v4)).length >= 2 * exchanges &&
      rogue.sources().length > 0,
    10_000,
    () => `guest: ${guest.sources().join(' ')}; rogue: ${rogue.sources().join(' ')}`,
  );
  guest.child.kill();
  rogue.child.kill();
  return { guest: guest.sources(), rogue: rogue.sources() };
}

/** `any`: the first address the guest uses passes and is locked; a second one is dropped. */
async function locksToFirst(r: Rig, family: 'ipv4' | 'ipv6', firstCidr: string, otherCidr: string): Promise<void> {
  const [first, other] = [firstCidr.split('/')[0]!, otherCidr.split('/')[0]!];
  addAddr(r, firstCidr);
  assert.equal(seenFrom(r, first), first, 'the first packets pass while learning');
  await until('the lock', () => learnedOn(r)[family].length > 0);
  await r.settled();
  assert.deepEqual(learnedOn(r)[family], [first]);
  addAddr(r, otherCidr);
  assert.equal(seenFrom(r, first), first);
  assert.equal(seenFrom(r, other), undefined, 'a different source is dropped');
}

/**
 * A lease granted by the rogue (`rogue`, sent from its namespace) never becomes usable; a short
 * lease from the trusted server (`trusted`, sent from the host bridge) works until it expires.
 */
async function rogueAndShortLease(
  r: Rig,
  family: 'ipv4' | 'ipv6',
  f: { rogue: Uint8Array; trusted: Uint8Array; rogueCidr: string; shortCidr: string },
): Promise<void> {
  const [rogueIp, shortIp] = [f.rogueCidr.split('/')[0]!, f.shortCidr.split('/')[0]!];
  sendRaw(r, r.rogue, 'eth0', f.rogue);
  sendRaw(r, r.host, 'br0', f.trusted);
  await until('the short lease', () => learnedOn(r)[family].includes(shortIp));
  await r.settled();
  assert.ok(!learnedOn(r)[family].includes(rogueIp));
  addAddr(r, f.rogueCidr);
  addAddr(r, f.shortCidr);
  assert.equal(seenFrom(r, rogueIp), undefined, 'the rogue lease is not usable');
  assert.equal(seenFrom(r, shortIp), shortIp);
  await until('the expiry', () => !learnedOn(r)[family].includes(shortIp), 25_000);
  await r.settled();
  assert.equal(seenFrom(r, shortIp), undefined, 'an expired lease stops working');
}

for (const backendName of ['ebiptables', 'nftables'] as const) {
  describe(`IP learning on a real kernel (${backendName})`, { skip, concurrency: false }, () => {
    it('any: the first address used passes and locks; another source is dropped; a restart keeps the lock', async (t) => {
      const r = await rig(t, backendName, 'vw-any4', {}, { ipv4: true, ipv6: false });
      await locksToFirst(r, 'ipv4', '10.77.0.10/24', '10.77.0.11/24');
      await r.restart();
      assert.equal(r.manager.learned('vnet0')!.state.ipv4[0]!.address, '10.77.0.10');
      assert.equal(seenFrom(r, '10.77.0.11'), undefined);
      assert.equal(seenFrom(r, '10.77.0.10'), '10.77.0.10');
      assert.equal(r.observed(), 0, 'a restored lock needs no capture');
    });

    it('any (IPv6): locks to the first global address; another is dropped', async (t) => {
      const r = await rig(t, backendName, 'vw-any6', {}, { ipv4: false, ipv6: true });
      await locksToFirst(r, 'ipv6', 'fd77::10/64', 'fd77::11/64');
    });

    it('dhcp: two leases (two client ids) both work; the rogue server is dropped; an expired lease stops working', async (t) => {
      const r = await rig(
        t,
        backendName,
        'vw-dhcp4',
        { CTRL_IP_LEARNING: ['dhcp'], DHCPSERVER: [HOST.v4] },
        { ipv4: true, ipv6: false },
      );
      dnsmasq(r.lab, r.host, 'br0', '10.77.0.100,10.77.0.150', 'fd77::100,fd77::1ff');
      dnsmasq(r.lab, r.rogue, 'eth0', '10.77.0.200,10.77.0.210', 'fd77::200,fd77::2ff');
      // a static address the guest uses before any lease is not learned and does not pass
      addAddr(r, '10.77.0.20/24');
      assert.equal(seenFrom(r, '10.77.0.20'), undefined);

      const cf = (id: string) => {
        const file = join(mkdtempSync(join(tmpdir(), 'vwt-dhclient-cf-')), 'conf');
        writeFileSync(file, `send dhcp-client-identifier "${id}";\n`);
        return ['-cf', file];
      };
      let results: ReturnType<typeof dhclient>[] = [];
      const answers = await dhcpAnswersDuring(r, false, 2, () => {
        results = [dhclient(r.lab, r.a, 'eth0', false, cf('first')), dhclient(r.lab, r.a, 'eth0', false, cf('second'))];
      });
      assert.ok(
        results.every((x) => x.ok),
        results.map((x) => x.output).join('\n'),
      );
      assert.ok(answers.rogue.includes(ROGUE.v4), 'the rogue server answered');
      assert.ok(
        answers.guest.includes(HOST.v4) && !answers.guest.includes(ROGUE.v4),
        `answers seen by the guest: ${answers.guest.join(' ')}`,
      );
      await until('two leases', () => learnedOn(r).ipv4.length === 2);
      await r.settled();
      const leases = learnedOn(r).ipv4;
      assert.ok(
        leases.every((ip) => /^10\.77\.0\.1[0-4]\d$/.test(ip)),
        leases.join(' '),
      );
      for (const ip of leases) assert.equal(seenFrom(r, ip), ip);
      assert.equal(seenFrom(r, '10.77.0.20'), undefined);

      await rogueAndShortLease(r, 'ipv4', {
        rogue: dhcpFrame(MAC.a, MAC.rogue, ROGUE.v4, '10.77.0.222', {
          type: 5,
          chaddr: MAC.a,
          yiaddr: '10.77.0.222',
          lease: 600,
          server: ROGUE.v4,
        }),
        trusted: dhcpFrame(MAC.a, MAC.host, HOST.v4, '10.77.0.30', {
          type: 5,
          chaddr: MAC.a,
          yiaddr: '10.77.0.30',
          lease: 12,
          server: HOST.v4,
        }),
        rogueCidr: '10.77.0.222/24',
        shortCidr: '10.77.0.30/24',
      });
      for (const ip of leases) assert.equal(seenFrom(r, ip), ip, 'the other leases keep working');
    });

    it('dhcp (IPv6): a DHCPv6 lease works, the rogue server is dropped, an expired lease stops working', async (t) => {
      const r = await rig(
        t,
        backendName,
        'vw-dhcp6',
        { CTRL_IP_LEARNING: ['dhcp'], DHCPSERVERV6: [HOST.ll] },
        { ipv4: false, ipv6: true },
      );
      dnsmasq(r.lab, r.host, 'br0', '10.77.0.100,10.77.0.150', 'fd77::100,fd77::1ff');
      dnsmasq(r.lab, r.rogue, 'eth0', '10.77.0.200,10.77.0.210', 'fd77::200,fd77::2ff');
      let result: ReturnType<typeof dhclient> | undefined;
      const answers = await dhcpAnswersDuring(r, true, 1, () => (result = dhclient(r.lab, r.a, 'eth0', true)));
      assert.ok(result!.ok, result!.output);
      // dhclient configures a /128: the prefix is on-link
      r.lab.exec(r.a, ['ip', '-6', 'route', 'add', 'fd77::/64', 'dev', 'eth0']);
      const rogueLl = linkLocal(r.lab, r.rogue, 'eth0');
      assert.ok(answers.rogue.includes(rogueLl), 'the rogue server answered');
      assert.ok(
        answers.guest.includes(HOST.ll) && !answers.guest.includes(rogueLl),
        `answers seen by the guest: ${answers.guest.join(' ')}`,
      );
      await until('the DHCPv6 lease', () => learnedOn(r).ipv6.length === 1);
      await r.settled();
      const [lease] = learnedOn(r).ipv6;
      assert.match(lease!, /^fd77::1[0-9a-f]{2}$/);
      assert.equal(seenFrom(r, lease!), lease);

      const reply = (from: string, fromMac: string, address: string, valid: number) =>
        dhcpv6Frame(MAC.a, fromMac, from, linkLocal(r.lab, r.a, 'eth0'), { type: 7, addresses: [{ address, valid }] });
      await rogueAndShortLease(r, 'ipv6', {
        rogue: reply(rogueLl, MAC.rogue, 'fd77::222', 600),
        trusted: reply(HOST.ll, MAC.host, 'fd77::30', 12),
        rogueCidr: 'fd77::222/64',
        shortCidr: 'fd77::30/64',
      });
      assert.equal(seenFrom(r, lease!), lease);
    });
  });
}

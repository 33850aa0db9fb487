// `virtwall nwfilter-explain` as an operator runs it: the CLI against a daemon in a namespace
// holding a clean-traffic binding, with a microflow, --json, --frame and --pcap, and refusals of
// bad input (exit 2) and unknown ports (exit 1).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { api, bindingRecord, cli, cliOk, daemonFixture, startDaemon } from './process.js';
import type { ExplainReport } from '../../src/explain/explain.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';

// guest 1 of bindingRecord: vnet1, MAC 52:54:00:00:00:01, IP 10.1.0.1
const OWN = 'eth.src=52:54:00:00:00:01,eth.dst=ff:ff:ff:ff:ff:ff,ip4.src=10.1.0.1,ip4.dst=10.1.0.254,udp.dst=53';
const SPOOF = 'eth.src=52:54:00:00:00:01,eth.dst=ff:ff:ff:ff:ff:ff,ip4.src=10.1.0.9,ip4.dst=10.1.0.254,tcp.dst=22';

/** A libpcap file (microseconds, little-endian, Ethernet) holding `frames`. */
function pcap(frames: readonly Buffer[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  const records = frames.map((f) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    return Buffer.concat([r, f]);
  });
  return Buffer.concat([header, ...records]);
}

describe('virtwall nwfilter-explain', { skip }, () => {
  it('explains packets of a bound port from the daemon, as text and JSON, from a microflow, --frame and --pcap', async (t) => {
    const fx = daemonFixture(t);
    await startDaemon(fx.ns, fx.root);
    cliOk(fx.root, ['nwfilter-binding-create', fx.file('b.xml', bindingRecord(1))]);

    const text = cliOk(fx.root, ['nwfilter-explain', 'vnet1', '--direction', 'out', SPOOF]);
    assert.match(text, /^verdict: DROP \(rule \d+ of \S+ \("clean-traffic\/no-ip-spoofing prio=1000"\)/m);
    assert.match(
      text,
      /from filter clean-traffic -> no-ip-spoofing, chain ipv4-ip, priority 1000, \S+no-ip-spoofing\.xml:\d+:\d+/,
    );
    assert.match(text, /variables: IP=10\.1\.0\.1/);

    const json = (args: string[]) =>
      JSON.parse(cliOk(fx.root, ['nwfilter-explain', 'vnet1', ...args, '--json'])) as ExplainReport;
    const own = json(['--direction', 'out', OWN]);
    assert.equal(own.backend, 'nftables');
    assert.equal(own.filter, 'clean-traffic');
    assert.deepEqual(
      own.packets.map((p) => p.verdict),
      ['accept'],
    );

    const spoofFrame = json(['--direction', 'out', SPOOF]).packets[0]!.frame;
    const byFrame = json(['--direction', 'out', '--frame', spoofFrame]);
    assert.equal(byFrame.packets[0]!.verdict, 'drop');

    const capture = fx.file('c.pcap', '');
    writeFileSync(capture, pcap([Buffer.from(own.packets[0]!.frame, 'hex'), Buffer.from(spoofFrame, 'hex')]));
    const fromPcap = json(['--direction', 'out', '--pcap', capture, 'ct.state=established']);
    assert.deepEqual(
      fromPcap.packets.map((p) => [p.packet, p.verdict, p.ct.state]),
      [
        ['frame 1', 'accept', 'established'],
        ['frame 2', 'drop', 'established'],
      ],
    );
  });

  it('explains on the ebiptables backend, from the tables the kernel lists', async (t) => {
    const fx = daemonFixture(t);
    mkdirSync(join(fx.root, 'etc/virtwall'), { recursive: true });
    writeFileSync(join(fx.root, 'etc/virtwall/virtwall.conf'), 'nwfilter_backend = "ebiptables"\n');
    await startDaemon(fx.ns, fx.root);
    cliOk(fx.root, ['nwfilter-binding-create', fx.file('b.xml', bindingRecord(1))]);
    const text = cliOk(fx.root, ['nwfilter-explain', 'vnet1', '--direction', 'out', SPOOF]);
    assert.match(
      text,
      /^port vnet1, filter clean-traffic, ebiptables backend \(libvirt's ebtables\/iptables layout\)$/m,
    );
    assert.match(text, /^ +ebtables: -A I-vnet1-ipv4-ip -p IPv4 --ip-src 10\.1\.0\.1 -j RETURN$/m);
    assert.match(text, /^verdict: DROP \(rule \d+ of I-vnet1-ipv4-ip in the bridge prerouting hook/m);
    assert.match(
      text,
      /from filter clean-traffic -> no-ip-spoofing, chain ipv4-ip, priority 1000, \S+no-ip-spoofing\.xml:\d+:\d+/,
    );
    const own = JSON.parse(
      cliOk(fx.root, ['nwfilter-explain', 'vnet1', '--direction', 'out', OWN, '--json']),
    ) as ExplainReport;
    assert.equal(own.backend, 'ebiptables');
    assert.deepEqual(
      own.packets.map((p) => p.verdict),
      ['accept'],
    );
  });

  it('refuses bad input with exit 2 and an unknown port with exit 1', async (t) => {
    const fx = daemonFixture(t);
    await startDaemon(fx.ns, fx.root);
    cliOk(fx.root, ['nwfilter-binding-create', fx.file('b.xml', bindingRecord(1))]);
    const bad = cli(fx.root, ['nwfilter-explain', 'vnet1', '--direction', 'out', `${OWN},ip4.ttl=300`]);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /ip4\.ttl="300": expected TTL, 0-255/);
    const frameAndPacket = cli(fx.root, ['nwfilter-explain', 'vnet1', '--direction', 'out', '--frame', '0011', OWN]);
    assert.equal(frameAndPacket.status, 2);
    assert.match(frameAndPacket.stderr, /may only state ct\.state and ct\.direction/);
    const noDirection = cli(fx.root, ['nwfilter-explain', 'vnet1', OWN]);
    assert.equal(noDirection.status, 2);
    const unknown = cli(fx.root, ['nwfilter-explain', 'vnet7', '--direction', 'out', OWN]);
    assert.equal(unknown.status, 1, unknown.stderr);
    assert.match(unknown.stderr, /no nwfilter binding for port dev 'vnet7'/);
    // the daemon checks what it is sent on its own: 400 naming the field, or the body's schema
    const post = (body: unknown) => api(fx.root, 'POST', '/bindings/vnet1/explain', JSON.stringify(body));
    const hostile = await post({ direction: 'out', packet: `${OWN},ip4.ttl=$(reboot)` });
    assert.equal(hostile.status, 400);
    assert.match(hostile.json.error!, /ip4\.ttl="\$\(reboot\)": expected TTL, 0-255/);
    assert.equal((await post({ direction: 'sideways', packet: OWN })).status, 400);
    assert.equal((await post({ direction: 'out', frames: ['zz'] })).status, 400);
    assert.equal((await post({ direction: 'out', packet: OWN, extra: 1 })).status, 400);
    const notPcap = cli(fx.root, ['nwfilter-explain', 'vnet1', '--direction', 'out', '--pcap', join(fx.root, 'nope')]);
    assert.notEqual(notPcap.status, 0);
  });
});

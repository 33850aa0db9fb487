// The host the metrics and dashboard tests look at: virtwalld in a namespace with its metrics and
// dashboard listeners on, a NAT network with DHCP, and two guests (namespaces behind veth pairs
// whose host ends are the TAP devices): A binds clean-traffic and learns its address from a real
// DHCP lease, B binds no-mac-spoofing. Each then sends spoofed frames (AF_PACKET, frames.py).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { dhcp } from '../support/guest.js';
import type { NetnsLab } from '../support/netns.js';
import { cliOk, daemonFixture, natNetwork, startDaemon, type DaemonProcess } from '../daemon/process.js';

const FRAMES = resolve('test/nwfilter/frames.py');
export const METRICS_PORT = 9465;
export const DASHBOARD_PORT = 9466;
export const NET = '10.77.0';
export const A = {
  tap: 'vneta',
  mac: '52:54:00:77:00:0a',
  uuid: '7a000000-0000-4000-8000-00000000000a',
  filter: 'clean-traffic',
};
export const B = {
  tap: 'vnetb',
  mac: '52:54:00:77:00:0b',
  uuid: '7b000000-0000-4000-8000-00000000000b',
  filter: 'no-mac-spoofing',
};
/** How many spoofed frames each guest sends. */
export const SPOOFED = { a: 5, b: 3 };

export interface ObservedHost {
  lab: NetnsLab;
  ns: string;
  root: string;
  daemon: DaemonProcess;
  guests: { a: string; b: string };
  /** A's address, from its DHCP lease. */
  addressA: string;
}

const portXml = (g: typeof A) => `<networkport>
  <uuid>${g.uuid}</uuid>
  <owner><name>guest-${g.tap}</name><uuid>${g.uuid}</uuid></owner>
  <mac address='${g.mac}'/>
</networkport>
`;

export async function observedHost(t: { after: (f: () => void) => void }): Promise<ObservedHost> {
  const { lab, ns, root, file } = daemonFixture(t);
  mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
  writeFileSync(
    join(root, 'etc/virtwall/virtwall.conf'),
    // tables not owned: the metrics test counts the heal after a foreign table delete, which owned tables refuse
    `metrics_listen = "127.0.0.1:${METRICS_PORT}"\ndashboard_listen = "127.0.0.1:${DASHBOARD_PORT}"\nnwfilter_table_owner = 0\n`,
  );
  const daemon = await startDaemon(ns, root);
  cliOk(root, ['net-create', file('net.xml', natNetwork('obs', 'vwobs0', NET))]);
  const guests = { a: lab.netns('ga'), b: lab.netns('gb') };
  for (const [g, gns] of [
    [A, guests.a],
    [B, guests.b],
  ] as const) {
    lab.exec(gns, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    lab.veth(ns, g.tap, gns, 'eth0', { mac: g.mac });
    cliOk(root, ['net-port-create', 'obs', file(`${g.tap}.xml`, portXml(g)), '--tap', g.tap, '--filter', g.filter]);
  }
  // A's clean-traffic has no IP: the daemon learns it from A's lease
  const lease = dhcp(lab, guests.a, 'eth0');
  assert.ok(lease.ok, lease.output);
  const addressA = /inet (\d+\.\d+\.\d+\.\d+)/.exec(
    lab.exec(guests.a, ['ip', '-4', 'addr', 'show', 'eth0']).stdout,
  )?.[1];
  assert.ok(addressA, 'A has an address');
  for (
    const t0 = Date.now();
    !cliOk(root, ['nwfilter-binding-dumpxml', A.tap]).includes(addressA) && Date.now() - t0 < 10_000;
  )
    await new Promise((r) => setTimeout(r, 100));
  assert.match(
    cliOk(root, ['nwfilter-binding-dumpxml', A.tap]),
    new RegExp(`value='${addressA.replace(/\./g, '\\.')}'`),
    'A learned its address',
  );
  return { lab, ns, root, daemon, guests, addressA };
}

/** A sends IPv4 from an address not its own; B sends frames with a source MAC not its own. */
export function sendSpoofed(h: ObservedHost): void {
  const frame = (mac: string, src: string, i: number) => ({
    kind: 'ipv4',
    src_mac: mac,
    dst_mac: 'ff:ff:ff:ff:ff:ff',
    src_ip: src,
    dst_ip: `${NET}.1`,
    marker: `spoof${i}`,
  });
  const send = (ns: string, frames: object[]) =>
    h.lab.exec(ns, ['python3', FRAMES, 'send', 'eth0', JSON.stringify(frames)]);
  send(
    h.guests.a,
    Array.from({ length: SPOOFED.a }, (_, i) => frame(A.mac, `${NET}.99`, i)),
  );
  send(
    h.guests.b,
    Array.from({ length: SPOOFED.b }, (_, i) => frame('52:54:00:66:66:66', `${NET}.98`, i)),
  );
}

/** An HTTP request from inside the daemon's namespace (curl): status, headers and body. */
export function fetchIn(
  ns: string,
  url: string,
  args: readonly string[] = [],
): { status: number; headers: string; body: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'curl', '-sS', '-i', '--max-time', '10', ...args, url], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `curl ${url}: ${r.stderr}`);
  const split = r.stdout.indexOf('\r\n\r\n');
  const headers = r.stdout.slice(0, split);
  return { status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(headers)?.[1]), headers, body: r.stdout.slice(split + 4) };
}

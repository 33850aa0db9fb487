// Guest-side helpers for kernel tests: a real DHCP client (dhclient) whose script only
// configures the interface (never the host's resolv.conf), TCP probes that report the peer
// address the other side saw, and a snapshot of a namespace's network state for
// "exactly as before" checks.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetnsLab } from './netns.js';

const DHCLIENT_SCRIPT = `#!/bin/sh
# minimal dhclient-script: addresses and default route only
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT)
    ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface" 2>/dev/null
    [ -n "$new_routers" ] && ip route replace default via "\${new_routers%% *}" dev "$interface"
    ;;
  BOUND6|RENEW6|REBIND6|REBOOT6)
    ip -6 addr add "$new_ip6_address/$new_ip6_prefixlen" dev "$interface" nodad 2>/dev/null
    ;;
esac
exit 0
`;

let scriptDir: string | undefined;

function dhclientScript(): string {
  if (!scriptDir) {
    scriptDir = mkdtempSync(join(tmpdir(), 'vwt-dhclient-'));
    writeFileSync(join(scriptDir, 'script'), DHCLIENT_SCRIPT);
    chmodSync(join(scriptDir, 'script'), 0o755);
  }
  return join(scriptDir, 'script');
}

/**
 * Runs dhclient once in `ns` on `ifname` (IPv4, or IPv6 with `v6`); resolves when it has bound
 * (dhclient then stays in the background and is killed with the namespace). `extraArgs` go
 * before the interface (e.g. `-cf FILE` for another client identifier).
 */
export function dhcp(
  lab: NetnsLab,
  ns: string,
  ifname: string,
  v6 = false,
  extraArgs: readonly string[] = [],
): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vwt-lease-'));
  const r = lab.exec(
    ns,
    [
      'timeout',
      '40',
      'dhclient',
      v6 ? '-6' : '-4',
      '-1',
      '-v',
      '-sf',
      dhclientScript(),
      '-lf',
      join(dir, 'leases'),
      '-pf',
      join(dir, 'pid'),
      ...extraArgs,
      ifname,
    ],
    false,
  );
  return { ok: r.status === 0, output: r.stdout + r.stderr };
}

const PEER_SERVER = `
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
print('ready', flush=True)
while True:
    c, addr = s.accept()
    c.sendall((addr[0] + '\\n').encode())
    c.close()
`;

const PEER_CLIENT = `
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print(s.recv(200).decode().strip())
except Exception as e:
    print('FAIL ' + type(e).__name__)
    sys.exit(1)
`;

/** Starts a TCP server in ns that answers each connection with the peer address it saw. */
export async function peerServer(lab: NetnsLab, ns: string, addr: string, port: number): Promise<void> {
  const child = lab.spawn(ns, ['python3', '-c', PEER_SERVER, addr, String(port)]);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`peer server in ${ns} did not start`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`peer server in ${ns} exited (${code})`));
    });
  });
}

/** Connects from ns; returns the address the server saw, or undefined if the connection failed. */
export function peerSeenAs(lab: NetnsLab, ns: string, addr: string, port: number, timeout = 3): string | undefined {
  const r = lab.exec(ns, ['python3', '-c', PEER_CLIENT, addr, String(port), String(timeout)], false);
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Links, addresses, routes, firewall rules and processes of a namespace, normalised for comparison. */
export function snapshot(lab: NetnsLab, ns: string): string {
  const run = (argv: string[]) => lab.exec(ns, argv, false).stdout;
  const strip = (s: string) =>
    s
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]').replace(/ (valid|preferred)_lft \S+/g, ''))
      .join('\n');
  return [
    run(['ip', '-o', 'link', 'show'])
      .replace(/ state \S+/g, '')
      .replace(/ qlen \d+/g, ''),
    run(['ip', '-o', 'addr', 'show']).replace(/ tentative/g, ''),
    run(['ip', 'route', 'show']),
    run(['ip', '-6', 'route', 'show']),
    strip(run(['nft', 'list', 'ruleset'])),
    strip(run(['iptables-save'])),
    strip(run(['ip6tables-save'])),
    run(['sysctl', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']),
    lab
      .pids(ns)
      .map((pid) => spawnSync('ps', ['-o', 'comm=', '-p', pid], { encoding: 'utf8' }).stdout.trim())
      .sort()
      .join(' '),
  ].join('\n----\n');
}

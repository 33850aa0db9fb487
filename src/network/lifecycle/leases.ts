// DHCP lease records of a running network, kept as libvirt's leases helper keeps them: dnsmasq
// runs with --leasefile-ro and calls a hook on every lease change (add/old/del) and at start
// (init, when it expects the current lease database on stdout). The records live in one JSON
// file per bridge, written atomically.
import { formatTable } from '../../cli/table.js';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { VirtwallError } from '../../errors.js';

export interface LeaseRecord {
  /** Expiry as seconds since the epoch; 0 for an infinite lease. */
  expiryTime: number;
  macAddress?: string;
  ipAddress: string;
  hostname?: string;
  clientId?: string;
  /** DHCPv6 identity association id (IPv6 leases only). */
  iaid?: string;
  serverDuid?: string;
}

/** The environment and arguments dnsmasq gives its dhcp-script. */
export interface LeaseEvent {
  action: 'add' | 'old' | 'del' | 'init' | 'tftp' | 'arp-add' | 'arp-del';
  mac?: string;
  ip?: string;
  hostname?: string;
  env: Readonly<Record<string, string | undefined>>;
}

export function readLeases(file: string): LeaseRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  if (text.trim() === '') return [];
  const parsed = JSON.parse(text) as unknown;
  if (!Array.isArray(parsed)) throw new VirtwallError('operation-failed', `lease file '${file}' does not hold a list`);
  return parsed as LeaseRecord[];
}

/** Writes a file so that readers see the old or the new content, never a torn one. */
export function writeFileAtomic(file: string, content: string, mode = 0o644): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export function writeLeases(file: string, leases: readonly LeaseRecord[]): void {
  writeFileAtomic(file, JSON.stringify(leases, null, 2) + '\n');
}

const isIpv6 = (ip: string) => ip.includes(':');

/**
 * The lease list after an event (pure). Expired leases are dropped; an add/old replaces any
 * record for the same address; del removes it.
 */
export function applyLeaseEvent(leases: readonly LeaseRecord[], ev: LeaseEvent, now: number): LeaseRecord[] {
  const live = leases.filter((l) => l.expiryTime === 0 || l.expiryTime > now);
  if (ev.action !== 'add' && ev.action !== 'old' && ev.action !== 'del') return live;
  if (!ev.ip) return live;
  const rest = live.filter((l) => l.ipAddress !== ev.ip);
  if (ev.action === 'del') return rest;
  const expires = Number(ev.env.DNSMASQ_LEASE_EXPIRES ?? '0');
  const record: LeaseRecord = {
    expiryTime: Number.isFinite(expires) ? expires : 0,
    ipAddress: ev.ip,
    // for DHCPv6 dnsmasq passes the DUID where the MAC goes, and the MAC in DNSMASQ_MAC
    macAddress: isIpv6(ev.ip) ? ev.env.DNSMASQ_MAC : ev.mac,
    hostname: ev.hostname ?? ev.env.DNSMASQ_SUPPLIED_HOSTNAME,
    clientId: isIpv6(ev.ip) ? ev.mac : ev.env.DNSMASQ_CLIENT_ID,
    iaid: ev.env.DNSMASQ_IAID,
    serverDuid: ev.env.DNSMASQ_SERVER_DUID,
  };
  return [...rest, stripUndefined(record)];
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as T;
}

/**
 * dnsmasq's lease database text for `init`: IPv4 lines `expiry mac ip hostname clientid`, then
 * `duid SERVER-DUID` and IPv6 lines `expiry iaid ip hostname clientid`.
 */
export function leaseDatabase(leases: readonly LeaseRecord[], now: number): string {
  const live = leases.filter((l) => l.expiryTime === 0 || l.expiryTime > now);
  const v4 = live.filter((l) => !isIpv6(l.ipAddress));
  const v6 = live.filter((l) => isIpv6(l.ipAddress));
  const lines = v4.map((l) => `${l.expiryTime} ${l.macAddress ?? '*'} ${l.ipAddress} ${l.hostname ?? '*'} ${l.clientId ?? '*'}`);
  const duid = v6.find((l) => l.serverDuid)?.serverDuid;
  if (v6.length && duid) {
    lines.push(`duid ${duid}`);
    lines.push(...v6.map((l) => `${l.expiryTime} ${l.iaid ?? '*'} ${l.ipAddress} ${l.hostname ?? '*'} ${l.clientId ?? '*'}`));
  }
  return lines.map((l) => l + '\n').join('');
}

/** One row of `virsh net-dhcp-leases`. */
export interface NetworkLease {
  expiryTime: number;
  mac?: string;
  iaid?: string;
  type: 'ipv4' | 'ipv6';
  ipAddress: string;
  prefix: number;
  hostname?: string;
  clientId?: string;
}

/** The live leases with each address's prefix taken from the network's subnets. */
export function networkLeases(leases: readonly LeaseRecord[], prefixOf: (ip: string) => number | undefined, now: number): NetworkLease[] {
  return leases
    .filter((l) => l.expiryTime === 0 || l.expiryTime > now)
    .flatMap((l) => {
      const prefix = prefixOf(l.ipAddress);
      if (prefix === undefined) return [];
      return [stripUndefined<NetworkLease>({
        expiryTime: l.expiryTime,
        mac: l.macAddress,
        iaid: l.iaid,
        type: isIpv6(l.ipAddress) ? 'ipv6' : 'ipv4',
        ipAddress: l.ipAddress,
        prefix,
        hostname: l.hostname,
        clientId: l.clientId,
      })];
    });
}

function formatExpiry(epoch: number): string {
  if (epoch === 0) return 'never';
  const d = new Date(epoch * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** The table `virsh net-dhcp-leases NETWORK` prints. */
export function formatLeaseTable(leases: readonly NetworkLease[]): string {
  const header = ['Expiry Time', 'MAC address', 'Protocol', 'IP address', 'Hostname', 'Client ID or DUID'];
  return formatTable(header, leases.map((l) => [formatExpiry(l.expiryTime), l.mac ?? '-', l.type, `${l.ipAddress}/${l.prefix}`, l.hostname ?? '-', l.clientId ?? '-']));
}

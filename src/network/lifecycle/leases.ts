// DHCP lease records of a running network, kept as libvirt's leases helper keeps them: dnsmasq
// runs with --leasefile-ro and calls a hook on every lease change (add/old/del) and at start
// (init, when it expects the current lease database on stdout). The records live in one JSON
// file per bridge, written atomically and read back through a schema (a corrupt file is set
// aside, src/util/state-file.ts; dnsmasq's next renewals add its leases again).
import * as z from '../../util/zod.js';
import { jsonState, readState, writeFileAtomic } from '../../util/state-file.js';

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

const LEASES = z.array(
  z.strictObject({
    expiryTime: z.number(),
    macAddress: z.optional(z.string()),
    ipAddress: z.string(),
    hostname: z.optional(z.string()),
    clientId: z.optional(z.string()),
    iaid: z.optional(z.string()),
    serverDuid: z.optional(z.string()),
  }),
) satisfies z.ZodMiniType<LeaseRecord[]>;

/** The lease records; none when the file is missing, empty or was corrupt. */
export function readLeases(file: string): LeaseRecord[] {
  return readState(file, (text) => (text.trim() === '' ? [] : jsonState(LEASES)(text))) ?? [];
}

export function writeLeases(file: string, leases: readonly LeaseRecord[]): void {
  writeFileAtomic(file, `${JSON.stringify(leases, null, 2)}\n`);
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
  const lines = v4.map(
    (l) => `${l.expiryTime} ${l.macAddress ?? '*'} ${l.ipAddress} ${l.hostname ?? '*'} ${l.clientId ?? '*'}`,
  );
  const duid = v6.find((l) => l.serverDuid)?.serverDuid;
  if (v6.length && duid) {
    lines.push(`duid ${duid}`);
    lines.push(
      ...v6.map((l) => `${l.expiryTime} ${l.iaid ?? '*'} ${l.ipAddress} ${l.hostname ?? '*'} ${l.clientId ?? '*'}`),
    );
  }
  return lines.map((l) => `${l}\n`).join('');
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
export function networkLeases(
  leases: readonly LeaseRecord[],
  prefixOf: (ip: string) => number | undefined,
  now: number,
): NetworkLease[] {
  return leases
    .filter((l) => l.expiryTime === 0 || l.expiryTime > now)
    .flatMap((l) => {
      const prefix = prefixOf(l.ipAddress);
      if (prefix === undefined) return [];
      return [
        stripUndefined<NetworkLease>({
          expiryTime: l.expiryTime,
          mac: l.macAddress,
          iaid: l.iaid,
          type: isIpv6(l.ipAddress) ? 'ipv6' : 'ipv4',
          ipAddress: l.ipAddress,
          prefix,
          hostname: l.hostname,
          clientId: l.clientId,
        }),
      ];
    });
}

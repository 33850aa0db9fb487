// The address learner of one filtered port (pure; the caller passes frames, lease records and
// the time). libvirt's two learners, one state machine:
// - `any` (nwfilter_learnipaddr.c): the first IPv4 address the guest is seen using - an ARP
//   sender, an IPv4 source, or the address a DHCP ACK gives it - locks the port for good. Unlike
//   libvirt (which took an ARP request's *target* and had no IPv6), we take the ARP sender and
//   skip probes from 0.0.0.0; IPv6 locks the same way to the first global source address or
//   DHCPv6-assigned address.
// - `dhcp` (nwfilter_dhcpsnoop.c): only addresses from DHCP ACKs (DHCPv6 Replies) for this
//   guest's MAC, from a trusted server when DHCPSERVER (DHCPSERVERV6) is set. Several leases per
//   port; a renewal extends a lease but never shortens it; expiry, RELEASE and DECLINE remove
//   it. DHCP packets are evaluated at most at libvirt's rate per direction.
import { DHCP, DHCPV6, type FrameFacts } from './frames.js';
import { DhcpRateLimiter } from './rate-limit.js';

export type LearningMode = 'any' | 'dhcp';
export type Family = 'ipv4' | 'ipv6';

/** How an address was learned (shown by dumpxml / --json). */
export type LearnSource = 'arp' | 'ip-traffic' | 'ipv6-traffic' | 'dhcp-snoop' | 'dhcpv6-snoop' | 'dnsmasq-lease';

export interface LearnedAddress {
  address: string;
  source: LearnSource;
  /** Seconds since the epoch. */
  learnedAt: number;
  /** Seconds since the epoch; absent = never expires (`any` locks, infinite leases). */
  expires?: number;
  /** The DHCP server that granted the lease. */
  server?: string;
}

export interface LearnerConfig {
  mode: LearningMode;
  /** The guest's MAC on the port, canonical lower case. */
  mac: string;
  /** DHCPSERVER values: trusted IPv4 DHCP servers (empty = any server). */
  dhcpServers: readonly string[];
  /** DHCPSERVERV6 values: trusted DHCPv6 servers (empty = any server). */
  dhcpServersV6: readonly string[];
}

export interface LearnerState {
  ipv4: LearnedAddress[];
  ipv6: LearnedAddress[];
}

/** One lease as our dnsmasq's lease hook records it (src/network/lifecycle/leases.ts). */
export interface LeaseView {
  ipAddress: string;
  /** 0 = infinite. */
  expiryTime: number;
}

const INFINITE = 0xffffffff;

const familyOf = (address: string): Family => (address.includes(':') ? 'ipv6' : 'ipv4');

/** Addresses a guest may own: not 0.0.0.0, multicast or class E (libvirt's test), for IPv4. */
function usableIpv4(a: string): boolean {
  const first = Number(a.split('.')[0]);
  return a !== '0.0.0.0' && first < 224;
}

/** Global unicast: not ::, loopback, link-local fe80::/10 or multicast ff00::/8. */
function globalIpv6(a: string): boolean {
  const lower = a.toLowerCase();
  return lower !== '::' && lower !== '::1' && !/^fe[89ab]/.test(lower) && !lower.startsWith('ff');
}

export class PortLearner {
  private readonly state: LearnerState;
  private readonly limits: { fromGuest: DhcpRateLimiter; toGuest: DhcpRateLimiter };

  constructor(
    readonly config: LearnerConfig,
    now: number,
    restored?: LearnerState,
  ) {
    this.state = { ipv4: [...(restored?.ipv4 ?? [])], ipv6: [...(restored?.ipv6 ?? [])] };
    this.limits = { fromGuest: new DhcpRateLimiter(now), toGuest: new DhcpRateLimiter(now) };
  }

  snapshot(): LearnerState {
    return { ipv4: this.state.ipv4.map((a) => ({ ...a })), ipv6: this.state.ipv6.map((a) => ({ ...a })) };
  }

  addresses(family: Family): string[] {
    return this.state[family].map((a) => a.address);
  }

  /** The earliest expiry of a learned address, for the caller's timer. */
  nextExpiry(): number | undefined {
    const all = [...this.state.ipv4, ...this.state.ipv6].flatMap((a) => (a.expires === undefined ? [] : [a.expires]));
    return all.length ? Math.min(...all) : undefined;
  }

  /** Evaluates a frame seen on the port; true when the learned addresses changed. */
  observe(f: FrameFacts, fromGuest: boolean, now: number): boolean {
    const { mac, mode } = this.config;
    if (fromGuest ? f.srcMac !== mac : f.srcMac === mac) return false;
    if ((f.dhcp || f.dhcpv6) && !(fromGuest ? this.limits.fromGuest : this.limits.toGuest).admit(now)) return false;
    let changed = false;
    if (f.dhcp) changed = this.dhcp(f, fromGuest, now) || changed;
    if (f.dhcpv6) changed = this.dhcpv6(f, fromGuest, now) || changed;
    if (mode === 'any' && fromGuest) {
      if (f.arp && (f.arp.op === 1 || f.arp.op === 2) && usableIpv4(f.arp.senderIp))
        changed = this.lock(f.arp.senderIp, 'arp', now) || changed;
      if (f.ipv4 && usableIpv4(f.ipv4.src)) changed = this.lock(f.ipv4.src, 'ip-traffic', now) || changed;
      if (f.ipv6 && globalIpv6(f.ipv6.src)) changed = this.lock(f.ipv6.src, 'ipv6-traffic', now) || changed;
    }
    return changed;
  }

  /**
   * Takes the guest's current leases from our own dnsmasq (records for this MAC). In `dhcp`
   * mode they are the port's addresses; in `any` mode the first one locks.
   */
  leases(records: readonly LeaseView[], now: number): boolean {
    const live = records.filter((r) => r.expiryTime === 0 || r.expiryTime > now);
    let changed = false;
    for (const family of ['ipv4', 'ipv6'] as const) {
      const mine = live.filter((r) => familyOf(r.ipAddress) === family);
      if (this.config.mode === 'any') {
        for (const r of mine) changed = this.lock(r.ipAddress, 'dnsmasq-lease', now) || changed;
        continue;
      }
      const next = mine.map((r): LearnedAddress => {
        const old = this.state[family].find((a) => a.address === r.ipAddress);
        return {
          address: r.ipAddress,
          source: 'dnsmasq-lease',
          learnedAt: old?.learnedAt ?? now,
          ...(r.expiryTime ? { expires: r.expiryTime } : {}),
        };
      });
      if (JSON.stringify(next) !== JSON.stringify(this.state[family])) {
        this.state[family] = next;
        changed = true;
      }
    }
    return changed;
  }

  /** Drops leases whose time is up; true when any was dropped. */
  expire(now: number): boolean {
    let changed = false;
    for (const family of ['ipv4', 'ipv6'] as const) {
      const kept = this.state[family].filter((a) => a.expires === undefined || a.expires > now);
      if (kept.length !== this.state[family].length) {
        this.state[family] = kept;
        changed = true;
      }
    }
    return changed;
  }

  private lock(address: string, source: LearnSource, now: number): boolean {
    const family = familyOf(address);
    if (this.state[family].length > 0) return false;
    this.state[family] = [{ address, source, learnedAt: now }];
    return true;
  }

  private grant(address: string, source: LearnSource, seconds: number, server: string, now: number): boolean {
    if (this.config.mode === 'any') return this.lock(address, source, now);
    const family = familyOf(address);
    const expires = seconds === INFINITE ? undefined : now + seconds;
    const old = this.state[family].find((a) => a.address === address);
    if (old) {
      // libvirt: "no take-backs", a renewal only ever extends a lease
      if (old.expires !== undefined && (expires === undefined || expires > old.expires)) {
        if (expires === undefined) delete old.expires;
        else old.expires = expires;
      }
      return false;
    }
    this.state[family].push({ address, source, learnedAt: now, server, ...(expires === undefined ? {} : { expires }) });
    return true;
  }

  private drop(address: string): boolean {
    const family = familyOf(address);
    const kept = this.state[family].filter((a) => a.address !== address);
    if (kept.length === this.state[family].length) return false;
    this.state[family] = kept;
    return true;
  }

  private dhcp(f: FrameFacts, fromGuest: boolean, now: number): boolean {
    const m = f.dhcp!;
    if (fromGuest) {
      if (this.config.mode !== 'dhcp') return false;
      if (m.type === DHCP.RELEASE) return this.drop(m.ciaddr);
      if (m.type === DHCP.DECLINE && m.requestedIp) return this.drop(m.requestedIp);
      return false;
    }
    // some servers broadcast their answers: the client address inside must be this guest's
    if (m.op !== 2 || m.type !== DHCP.ACK || m.chaddr !== this.config.mac || !usableIpv4(m.yiaddr)) return false;
    const server = m.serverId ?? f.ipv4!.src;
    const trusted = this.config.dhcpServers;
    if (trusted.length > 0 && !trusted.includes(server)) return false;
    // libvirt: an ACK without a lease time gives a lease that ends right away
    return this.grant(m.yiaddr, 'dhcp-snoop', m.leaseTime ?? 0, server, now);
  }

  private dhcpv6(f: FrameFacts, fromGuest: boolean, now: number): boolean {
    const m = f.dhcpv6!;
    if (fromGuest) {
      if (this.config.mode !== 'dhcp' || (m.type !== DHCPV6.RELEASE && m.type !== DHCPV6.DECLINE)) return false;
      return m.addresses.reduce((changed, a) => this.drop(a.address) || changed, false);
    }
    // Replies go to the client's link-local unicast address, i.e. to this guest's MAC
    if (m.type !== DHCPV6.REPLY || f.dstMac !== this.config.mac) return false;
    const server = f.ipv6!.src;
    const trusted = this.config.dhcpServersV6;
    if (trusted.length > 0 && !trusted.includes(server)) return false;
    let changed = false;
    for (const a of m.addresses) {
      if (!globalIpv6(a.address)) continue;
      changed =
        (a.validLifetime === 0
          ? this.config.mode === 'dhcp' && this.drop(a.address)
          : this.grant(a.address, 'dhcpv6-snoop', a.validLifetime, server, now)) || changed;
    }
    return changed;
  }
}

// The benches' kernel side: one namespace `host` with bridge br0 and N guest ports (veth pairs,
// host ends vnet0..vnetN-1 play the guests' TAP devices, enslaved to br0; from the 1,000th on
// to br1, br2, ...), everything made with
// test/support's NetnsLab so it is removed on exit, on a thrown error and on Ctrl-C.
import { EbiptablesBackend } from '../../src/backends/ebiptables/backend.js';
import { NftablesBackend } from '../../src/backends/nftables/backend.js';
import { loadStockFilters } from '../../src/conf/nwfilter/stock.js';
import { SystemRunner, type CommandRunner } from '../../src/exec/runner.js';
import type { NwfilterBackend, NwfilterBackendName, PortFilter } from '../../src/nwfilter/backend.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { MapFilterSource, type FilterSource } from '../../src/nwfilter/source.js';
import { canUseNetns, NetnsLab } from '../../test/support/netns.js';

// Ctrl-C or a kill ends the process through exit, where NetnsLab removes what it made.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => process.exit(130));

/** Refuses to start without root and network namespaces (benches have nothing to fall back on). */
export function requireNetns(): void {
  if (!canUseNetns()) {
    console.error('bench: needs root and `ip netns` (run as root on a kernel with network namespaces)');
    process.exit(2);
  }
}

/** Guest i's MAC and IPv4 address in 10.100.0.0/16 (i < 65535), unique on the bench bridge. */
export const guestMac = (i: number) =>
  `52:54:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
export const guestIp = (i: number) => `10.100.${((i + 1) >> 8) & 0xff}.${(i + 1) & 0xff}`;
export const portName = (i: number) => `vnet${i}`;
/** Port indexes from..to-1. */
/** Ports per bench bridge: the kernel takes at most 1,024 on one (BR_MAX_PORTS). */
const PORTS_PER_BRIDGE = 1000;
const bridgeOf = (i: number) => `br${Math.floor(i / PORTS_PER_BRIDGE)}`;
export const portIndexes = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** A user filter over clean-traffic that the redefinition benches bind ports to. */
export const GUARD_FILTER = 'vwt-bench-guard';
const GUARD_UUID = '8f6c2a1e-6b1d-4c43-9a57-3d2e0b9c1f00';
/** GUARD_FILTER's two definitions: clean-traffic, then the same with one rule more (the redefinition). */
export const GUARD_DEFINITIONS = [
  `<filter name='${GUARD_FILTER}' chain='root'><uuid>${GUARD_UUID}</uuid><filterref filter='clean-traffic'/></filter>`,
  `<filter name='${GUARD_FILTER}' chain='root'><uuid>${GUARD_UUID}</uuid>
  <rule action='accept' direction='out' priority='-900'><mac protocolid='0x88b5' srcmacaddr='$MAC'/></rule>
  <filterref filter='clean-traffic'/>
</filter>`,
];

export const stockFilters: FilterSource = new MapFilterSource(loadStockFilters().values());

/** Port i bound to `filter` (clean-traffic by default) with its IP, as a backend takes it. */
export function cleanTrafficPort(i: number, filter = 'clean-traffic', source: FilterSource = stockFilters): PortFilter {
  const binding = { portdev: portName(i), mac: guestMac(i), filter, params: new Map([['IP', [guestIp(i)]]]) };
  return { portdev: binding.portdev, mac: binding.mac, filter, instances: instantiateBinding(binding, source) };
}

export class BenchNet {
  readonly lab = new NetnsLab();
  readonly host: string;
  readonly runner: SystemRunner;
  /** Bridges made beyond br0 for ports past the first PORTS_PER_BRIDGE. */
  private readonly bridges = new Set<string>();

  constructor() {
    this.host = this.lab.netns('host');
    this.lab.bridge(this.host, 'br0');
    // libvirt's hosts filter bridged IP traffic through iptables (br_netfilter). No IPv6 on the
    // ports: a thousand new links sending DAD and MLD to each other flood the bridge for seconds.
    this.lab.exec(this.host, [
      'sysctl',
      '-qw',
      'net.bridge.bridge-nf-call-iptables=1',
      'net.bridge.bridge-nf-call-ip6tables=1',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
    ]);
    this.runner = new SystemRunner({ netns: this.host });
  }

  /**
   * Adds ports from..to-1 (veth pairs vnetI/vpI in the host namespace), in one `ip -batch`: port
   * I on bridge `brB`, B = I / PORTS_PER_BRIDGE (a bridge takes at most 1,024 ports), the
   * further bridges made as needed.
   */
  addPorts(from: number, to: number): void {
    const lines: string[] = [];
    for (let i = from; i < to; i++) {
      const bridge = bridgeOf(i);
      if (bridge !== 'br0' && !this.bridges.has(bridge)) {
        this.bridges.add(bridge);
        lines.push(`link add ${bridge} type bridge stp_state 0 forward_delay 0`, `link set ${bridge} up`);
      }
      lines.push(
        `link add ${portName(i)} type veth peer name vp${i}`,
        `link set ${portName(i)} master ${bridge} up`,
        `link set vp${i} up`,
      );
    }
    if (lines.length) this.lab.exec(this.host, ['ip', '-batch', '-'], true, `${lines.join('\n')}\n`);
  }

  async backend(name: NwfilterBackendName, runner: CommandRunner = this.runner): Promise<NwfilterBackend> {
    return name === 'nftables' ? NftablesBackend.create(runner) : new EbiptablesBackend(runner);
  }

  cleanup(): void {
    this.lab.cleanup();
  }
}

/**
 * The bridge with guests 0 and 1 (A and B) in their own namespaces `a` and `b` (eth0 with
 * guestMac/guestIp, no IPv6), and ports 2..n+1 for `n` other guests.
 */
export function guestPair(n = 0): { net: BenchNet; a: string; b: string } {
  const net = new BenchNet();
  const [a, b] = [0, 1].map((i) => {
    const ns = net.lab.netns(i === 0 ? 'a' : 'b');
    net.lab.exec(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    net.lab.veth(net.host, portName(i), ns, 'eth0', { bridge: 'br0', mac: guestMac(i) });
    net.lab.exec(ns, ['ip', 'addr', 'add', `${guestIp(i)}/16`, 'dev', 'eth0']);
    return ns;
  });
  net.addPorts(2, n + 2);
  return { net, a: a!, b: b! };
}

// Ports of a known structure (compile.ts Recipe): a port compiled after another port of the same
// filter tree, with other values, must compile to exactly what compiling it first gives (a fresh
// module, where nothing was compiled before, compiles it without a recipe).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compilePort, type StatefulPath } from '../../src/backends/nftables/compile.js';
import { loadStockFilters } from '../../src/conf/nwfilter/stock.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import type { PortFilter } from '../../src/nwfilter/backend.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { chainSources, MapFilterSource, type FilterSource } from '../../src/nwfilter/source.js';

const stock = new MapFilterSource(loadStockFilters().values());

type Params = Record<string, string[]>;

/** The filters a case's ports use: the stock ones and its own, parsed once (its ports share their definitions). */
const sourceOf = (extra: readonly string[] = []) =>
  chainSources(new MapFilterSource(extra.map((x) => parseFilter(x))), stock);

function port(n: number, filter: string, params: Params, source: FilterSource): PortFilter {
  const mac =
    params['MAC']?.[0] ??
    `52:54:00:0${n % 10}:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;
  const binding = { portdev: `vnet${n}`, mac, filter, params: new Map(Object.entries(params)) };
  return { portdev: binding.portdev, mac, filter, instances: instantiateBinding(binding, source) };
}

const filter = (name: string, rules: string) => `<filter name='${name}'>${rules}</filter>`;

/** A filter, the values of a port compiled first, and the values of the port compared. */
interface Case {
  name: string;
  filter: string;
  extra?: string[];
  first: Params;
  next: Params;
  path?: StatefulPath;
}

const full = (ip: string[], v6: string[], server: string, gw: string): Params => ({
  IP: ip,
  IPV6: v6,
  DHCPSERVER: [server],
  GATEWAY_MAC: [gw],
});

const NET = filter('vwt-net', `<rule action='accept' direction='out'><ip srcipaddr='$A' srcipmask='$M'/></rule>`);
const MACMASK = filter(
  'vwt-macmask',
  `<rule action='accept' direction='out'><mac srcmacaddr='$MAC' srcmacmask='$MM'/></rule>`,
);
const STP = filter(
  'vwt-stp',
  `<rule action='drop' direction='out'><stp sender-address='$MAC' sender-address-mask='$MM'/></rule>
   <rule action='drop' direction='out'><stp root-address='$ROOT'/></rule>`,
);
const NEG = filter('vwt-neg', `<rule action='drop' direction='out'><ip srcipaddr='$A' match='no'/></rule>`);
const V6 = filter(
  'vwt-v6',
  `<rule action='accept' direction='out'><ipv6 srcipaddr='$V6'/></rule>
   <rule action='accept' direction='in'><tcp-ipv6 dstipaddr='$V6' dstportstart='$P'/></rule>
   <rule action='drop' direction='inout'><ipv6/></rule>`,
);
const LIMIT = filter(
  'vwt-limit',
  `<rule action='drop' direction='out'><tcp srcipaddr='$IP' connlimit-above='$N'/></rule>
   <rule action='drop' direction='out'><udp srcipaddr='$IP' connlimit-above='3'/></rule>
   <rule action='accept' direction='inout'><tcp srcipaddr='$IP' dstportstart='22'/></rule>`,
);
const STATE = filter(
  'vwt-state',
  `<rule action='accept' direction='in'><tcp dstipaddr='$IP' state='$S'/></rule>
   <rule action='accept' direction='out'><udp srcipaddr='$IP' dstportstart='53'/></rule>`,
);
const PORTS = filter(
  'vwt-ports',
  `<rule action='accept' direction='in'><tcp dstipaddr='$IP' dstportstart='$LO' dstportend='$HI'/></rule>`,
);
const INOUT = filter(
  'vwt-inout',
  `<rule action='accept' direction='inout'><mac srcmacaddr='$MAC'/></rule>
   <rule action='accept' direction='out'><arp arpsrcipaddr='$IP' arpdstipaddr='$IP'/></rule>
   <rule action='reject' direction='in'><ipv6/></rule>`,
);
const LISTS = filter(
  'vwt-lists',
  `<rule action='accept' direction='out'><ip srcipaddr='$IP[@1]' dstipaddr='$DST[@2]'/></rule>
   <rule action='accept' direction='out'><ip srcipaddr='$IP' dstipaddr='$DST'/></rule>`,
);

/** A filter referenced twice by the same path, each time with another parameter (compile.ts nameSets' occurrence). */
const REF = filter(
  'vwt-ref',
  `<rule action='accept' direction='out'><ip srcipaddr='$IP' dstipaddr='$B'/></rule>
   <rule action='drop' direction='out'><ip dstipaddr='$B'/></rule>`,
);
const TWICE = filter(
  'vwt-twice',
  `<filterref filter='vwt-ref'><parameter name='B' value='10.9.0.1'/></filterref>
   <filterref filter='vwt-ref'><parameter name='B' value='10.9.0.2'/></filterref>`,
);

const CASES: Case[] = [
  ...[...loadStockFilters().keys()].map(
    (f): Case => ({
      name: `stock ${f}`,
      filter: f,
      first: full(
        ['10.0.0.1', '10.0.0.2'],
        ['fd00::1'],
        f === 'allow-dhcpv6-server' ? 'fd00::fe' : '10.0.0.254',
        '52:54:00:00:00:fe',
      ),
      next: full(
        ['10.9.8.7', '10.9.8.6'],
        ['2001:db8::7'],
        f === 'allow-dhcpv6-server' ? 'fd00::9' : '10.9.8.1',
        '52:54:00:aa:bb:cc',
      ),
    }),
  ),
  {
    name: 'clean-traffic, one IP',
    filter: 'clean-traffic',
    first: { IP: ['10.0.0.1'] },
    next: { IP: ['192.168.5.9'] },
  },
  {
    name: 'clean-traffic, bridge conntrack',
    filter: 'clean-traffic',
    first: { IP: ['10.0.0.1'] },
    next: { IP: ['192.168.5.9'] },
    path: 'bridge-conntrack',
  },
  {
    name: 'clean-traffic, a list with a repeated value',
    filter: 'clean-traffic',
    first: { IP: ['10.0.0.1', '10.0.0.2'] },
    next: { IP: ['10.0.0.3', '10.0.0.3'] },
  },
  {
    name: 'mask 32, then 24',
    filter: 'vwt-net',
    extra: [NET],
    first: { A: ['10.1.0.0'], M: ['32'] },
    next: { A: ['10.2.0.0'], M: ['24'] },
  },
  {
    name: 'mask 24, then 24',
    filter: 'vwt-net',
    extra: [NET],
    first: { A: ['10.1.0.0'], M: ['24'] },
    next: { A: ['10.2.0.0'], M: ['24'] },
  },
  {
    name: 'mask 24, then 32',
    filter: 'vwt-net',
    extra: [NET],
    first: { A: ['10.1.0.0'], M: ['24'] },
    next: { A: ['10.2.0.0'], M: ['32'] },
  },
  {
    name: 'MAC mask: a range, then all bits',
    filter: 'vwt-macmask',
    extra: [MACMASK],
    first: { MAC: ['52:54:00:00:00:01'], MM: ['ff:ff:ff:00:00:00'] },
    next: { MAC: ['52:54:00:00:00:02'], MM: ['ff:ff:ff:ff:ff:ff'] },
  },
  {
    name: 'MAC mask: all bits, then a range',
    filter: 'vwt-macmask',
    extra: [MACMASK],
    first: { MAC: ['52:54:00:00:00:01'], MM: ['ff:ff:ff:ff:ff:ff'] },
    next: { MAC: ['52:54:00:00:00:02'], MM: ['ff:ff:ff:00:00:00'] },
  },
  {
    name: 'STP addresses at raw offsets, masked: all bits, then a prefix',
    filter: 'vwt-stp',
    extra: [STP],
    first: { MAC: ['52:54:00:00:00:01'], MM: ['ff:ff:ff:ff:ff:ff'], ROOT: ['52:54:00:00:01:01'] },
    next: { MAC: ['52:54:00:00:00:02'], MM: ['ff:ff:00:00:00:00'], ROOT: ['52:54:00:00:01:02'] },
  },
  {
    name: 'STP addresses at raw offsets, masked: a prefix, then all bits',
    filter: 'vwt-stp',
    extra: [STP],
    first: { MAC: ['52:54:00:00:00:01'], MM: ['ff:ff:00:00:00:00'], ROOT: ['52:54:00:00:01:01'] },
    next: { MAC: ['52:54:00:00:00:02'], MM: ['ff:ff:ff:ff:ff:ff'], ROOT: ['52:54:00:00:01:02'] },
  },
  { name: 'negated, one value', filter: 'vwt-neg', extra: [NEG], first: { A: ['1.1.1.1'] }, next: { A: ['2.2.2.2'] } },
  {
    name: 'negated, two values (rules written out)',
    filter: 'vwt-neg',
    extra: [NEG],
    first: { A: ['1.1.1.1', '2.2.2.2'] },
    next: { A: ['3.3.3.3', '4.4.4.4'] },
  },
  {
    name: 'IPv6 and a port',
    filter: 'vwt-v6',
    extra: [V6],
    first: { V6: ['fd00::1'], P: ['80'] },
    next: { V6: ['2001:db8::1:2'], P: ['443'] },
  },
  {
    name: 'IPv6, same port',
    filter: 'vwt-v6',
    extra: [V6],
    first: { V6: ['fd00::1'], P: ['80'] },
    next: { V6: ['::ffff:10.0.0.1'], P: ['80'] },
  },
  {
    name: 'connlimit',
    filter: 'vwt-limit',
    extra: [LIMIT],
    first: { IP: ['10.0.0.1'], N: ['3'] },
    next: { IP: ['10.0.0.2'], N: ['5'] },
  },
  {
    name: 'connlimit, bridge conntrack',
    filter: 'vwt-limit',
    extra: [LIMIT],
    first: { IP: ['10.0.0.1'], N: ['3'] },
    next: { IP: ['10.0.0.2'], N: ['3'] },
    path: 'bridge-conntrack',
  },
  {
    name: 'a state from a variable',
    filter: 'vwt-state',
    extra: [STATE],
    first: { IP: ['10.0.0.1'], S: ['NEW'] },
    next: { IP: ['10.0.0.2'], S: ['ESTABLISHED'] },
  },
  {
    name: 'a port range, then one port',
    filter: 'vwt-ports',
    extra: [PORTS],
    first: { IP: ['10.0.0.1'], LO: ['80'], HI: ['90'] },
    next: { IP: ['10.0.0.2'], LO: ['80'], HI: ['80'] },
  },
  {
    name: 'one port, then a range',
    filter: 'vwt-ports',
    extra: [PORTS],
    first: { IP: ['10.0.0.1'], LO: ['80'], HI: ['80'] },
    next: { IP: ['10.0.0.2'], LO: ['80'], HI: ['0x5a'] },
  },
  {
    name: 'inout and ARP (reversed fields)',
    filter: 'vwt-inout',
    extra: [INOUT],
    first: { MAC: ['52:54:00:00:00:01'], IP: ['10.0.0.1'] },
    next: { MAC: ['52:54:00:00:00:02'], IP: ['10.0.0.2'] },
  },
  {
    name: 'a filter referenced twice with other parameters',
    filter: 'vwt-twice',
    extra: [REF, TWICE],
    first: { IP: ['10.0.0.1'] },
    next: { IP: ['10.0.0.2'] },
  },
  {
    name: 'lists under two iterators',
    filter: 'vwt-lists',
    extra: [LISTS],
    first: { IP: ['10.0.0.1', '10.0.0.2'], DST: ['10.1.0.1', '10.1.0.2'] },
    next: { IP: ['10.0.0.5', '10.0.0.6'], DST: ['10.1.0.7', '10.1.0.7'] },
  },
];

describe('nftables compiler: ports of a known structure', () => {
  it('compile to what compiling them first gives, for every kind of value', async () => {
    for (const [n, c] of CASES.entries()) {
      const path = c.path ?? 'br_netfilter';
      const fresh = (await import(
        `../../src/backends/nftables/compile.js?structure=${n}`
      )) as typeof import('../../src/backends/nftables/compile.js');
      const source = sourceOf(c.extra);
      // the first port and one more of the first port's values make the structure known here
      compilePort(port(1000 + n, c.filter, c.first, source), 1000 + n, path);
      compilePort(port(2000 + n, c.filter, c.first, source), 2000 + n, path);
      for (const [values, at] of [
        [c.next, 3000],
        [c.first, 4000],
      ] as const) {
        const p = port(at + n, c.filter, values, source);
        const known = compilePort(p, at + n, path);
        assert.deepEqual(known, fresh.compilePort({ ...p }, at + n, path), `${c.name}: port vnet${at + n}`);
      }
    }
  });
});

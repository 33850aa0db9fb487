// What a port may send and receive while its address is being learned, as an ordinary filter
// definition, so every nwfilter backend enforces it with its normal rule generation:
// - `any` mode (libvirt's basic rules): from the guest only frames with its own MAC, and of
//   those only IPv4 and ARP - plus IPv6 when an IPv6 address is being learned too (libvirt
//   learned no IPv6 and dropped it). Nothing towards the guest is restricted.
// - `dhcp` mode (libvirt's DHCP-only rules): DHCP requests from the guest's MAC, DHCP answers
//   to its MAC or to broadcast - only from the DHCPSERVER addresses when given - and nothing
//   else. When IPv6 is learned too: DHCPv6 the same way (DHCPSERVERV6), plus the Neighbor
//   Discovery messages a client needs before it can talk DHCPv6.
import { parseFilter } from '../conf/nwfilter/parse.js';
import type { PortFilter } from '../nwfilter/backend.js';
import { instantiate } from '../nwfilter/instantiate.js';
import { MapFilterSource } from '../nwfilter/source.js';
import type { VarValue } from '../nwfilter/vars.js';
import type { LearningMode } from './learner.js';

export const LEARNING_FILTER = 'virtwall-ip-learning';

export interface LearningPolicyInput {
  portdev: string;
  mac: string;
  mode: LearningMode;
  /** Whether an IPv6 address is being learned (the filter references $IPV6 without a value). */
  ipv6: boolean;
  /** The binding's parameters (DHCPSERVER, DHCPSERVERV6 are read). */
  params: ReadonlyMap<string, VarValue>;
}

type Rule = [action: 'accept' | 'drop', direction: 'in' | 'out', priority: number, element: string];

/** Nothing in or out: libvirt's drop-all rules, and the end of the DHCP-only ones. */
const DROP_ALL: Rule[] = [
  ['drop', 'out', 1000, ''],
  ['drop', 'in', 1000, ''],
];

const ANY_RULES = (ipv6: boolean): Rule[] => [
  ['drop', 'out', -900, `<mac match='no' srcmacaddr='$MAC'/>`],
  ['accept', 'out', 100, `<mac protocolid='ipv4'/>`],
  ['accept', 'out', 100, `<mac protocolid='arp'/>`],
  ...(ipv6 ? [['accept', 'out', 100, `<mac protocolid='ipv6'/>`] as Rule] : []),
  ['drop', 'out', 1000, ''],
];

// [@1]: the server list iterates independently of $MAC
const serverMatch = (trusted: boolean, variable: string) => (trusted ? ` srcipaddr='$${variable}[@1]'` : '');

const DHCP_RULES = (ipv6: boolean, v4Servers: boolean, v6Servers: boolean): Rule[] => [
  ['accept', 'out', 100, `<ip srcmacaddr='$MAC' protocol='udp' srcportstart='68' dstportstart='67'/>`],
  ...['$MAC', 'ff:ff:ff:ff:ff:ff'].map(
    (dst): Rule => [
      'accept',
      'in',
      100,
      `<ip dstmacaddr='${dst}'${serverMatch(v4Servers, 'DHCPSERVER')} protocol='udp' srcportstart='67' dstportstart='68'/>`,
    ],
  ),
  ...(ipv6
    ? ([
        ['accept', 'out', 100, `<ipv6 srcmacaddr='$MAC' protocol='udp' srcportstart='546' dstportstart='547'/>`],
        ['accept', 'out', 100, `<ipv6 srcmacaddr='$MAC' protocol='icmpv6' type='133'/>`],
        ['accept', 'out', 100, `<ipv6 srcmacaddr='$MAC' protocol='icmpv6' type='135' typeend='136'/>`],
        [
          'accept',
          'in',
          100,
          `<ipv6 dstmacaddr='$MAC'${serverMatch(v6Servers, 'DHCPSERVERV6')} protocol='udp' srcportstart='547' dstportstart='546'/>`,
        ],
        ['accept', 'in', 100, `<ipv6 protocol='icmpv6' type='134' typeend='136'/>`],
      ] as Rule[])
    : []),
  ...DROP_ALL,
];

/** A fixed filter as libvirt XML (it goes through the normal parser). */
function filterXml(rules: readonly Rule[]): string {
  const body = rules.map(
    ([action, dir, prio, el]) => `  <rule action='${action}' direction='${dir}' priority='${prio}'>${el}</rule>`,
  );
  return `<filter name='${LEARNING_FILTER}' chain='root'>\n${body.join('\n')}\n</filter>\n`;
}

export function learningFilterXml(mode: LearningMode, ipv6: boolean, v4Servers: boolean, v6Servers: boolean): string {
  return filterXml(mode === 'any' ? ANY_RULES(ipv6) : DHCP_RULES(ipv6, v4Servers, v6Servers));
}

function fixedPolicy(portdev: string, mac: string, xml: string, vars: Map<string, VarValue>): PortFilter {
  const def = parseFilter(xml, `<${LEARNING_FILTER}>`);
  return { portdev, mac, filter: LEARNING_FILTER, instances: instantiate(def, vars, new MapFilterSource([])) };
}

/**
 * Nothing in or out: what libvirt puts on a port whose learning failed, so an unlearnable
 * port is never left open.
 */
export function dropAllPolicy(portdev: string, mac: string): PortFilter {
  return fixedPolicy(portdev, mac, filterXml(DROP_ALL), new Map());
}

/** The port's filter while its address is unknown. */
export function learningPolicy(p: LearningPolicyInput): PortFilter {
  const servers = p.params.get('DHCPSERVER');
  const servers6 = p.params.get('DHCPSERVERV6');
  const vars = new Map<string, VarValue>([['MAC', [p.mac]]]);
  if (servers) vars.set('DHCPSERVER', servers);
  if (servers6) vars.set('DHCPSERVERV6', servers6);
  return fixedPolicy(
    p.portdev,
    p.mac,
    learningFilterXml(p.mode, p.ipv6, servers !== undefined, servers6 !== undefined),
    vars,
  );
}

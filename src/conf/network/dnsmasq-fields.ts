// Every string of a network definition that virtwall writes into a dnsmasq file (dnsmasq.conf,
// the dhcp-hostsfile, the addn-hosts file), with what dnsmasq's syntax allows there. dnsmasq
// reads its configuration line by line (a line feed starts a new option, such as dhcp-script=,
// which dnsmasq runs as root), cuts a line at '#' after white space, strips '"' and unescapes
// inside quotes, reads at most 1023 bytes per line (the rest becomes a line of its own), and
// splits an option's value at ',' (and domains at '/'). libvirt writes these values unchecked;
// here one table says what each may hold and one walk over the XML refuses anything else, at
// define, create and update alike, before anything is stored or written.
import { childElements, locationOf, textContent, type XmlElement } from '../../xml/dom.js';
import { scopeIn, type Scope } from '../../xml/namespaces.js';
import { invalidInput } from '../../errors.js';
import { DEVICE_NAME_CHARS, DEVICE_NAME_MAX } from '../../util/device-name.js';
import { printable } from '../../util/printable.js';
import { qualifiedName } from './dnsmasq-namespace.js';

/** What a value may hold where dnsmasq reads it. */
export interface ValueRule {
  /** Characters dnsmasq reads as syntax where the value goes: they would end, split or comment it. */
  breaks: string;
  /** The characters allowed, one at a time (control characters never are). */
  chars: RegExp;
  /** The same in words, for the error message. */
  allowed: string;
  /** UTF-8 bytes at most: keeps every line within dnsmasq's 1023-byte line buffer. */
  maxBytes: number;
  /** A shape the whole value must have beyond its characters. */
  shape?: { test: (value: string) => boolean; expected: string };
}

const LABEL = '[A-Za-z0-9_-]{1,63}';
const DNS_NAME = new RegExp(`^(?:\\.|(?:${LABEL}\\.)*${LABEL}\\.?)?$`);
/** dhcp-host fields dnsmasq tells from a name by their form: an IPv4 address, a lease time, two keywords. */
const DHCP_HOST_KEYWORD = /^(?:[0-9.]+|[0-9]+[smhdwSMHDW]|ignore|infinite)$/;

export const RULES = {
  /** A DNS name (domain, host name, SRV target): dnsmasq splits `local=/a/b/` at '/', `domain=a,b` at ','. */
  dnsName: {
    breaks: ',/#" ',
    chars: /[A-Za-z0-9_.-]/,
    allowed: "letters, digits, '-', '_' and '.'",
    maxBytes: 253,
    shape: { test: (v) => DNS_NAME.test(v), expected: 'dot-separated labels of 1 to 63 characters' },
  },
  /** A dhcp-hostsfile name: a DNS name that dnsmasq's dhcp-host does not read as something else. */
  dhcpHostName: {
    breaks: ',/#" ',
    chars: /[A-Za-z0-9_.-]/,
    allowed: "letters, digits, '-', '_' and '.'",
    maxBytes: 253,
    shape: {
      test: (v) => DNS_NAME.test(v) && !DHCP_HOST_KEYWORD.test(v),
      expected: "a host name, not what dhcp-host reads as an address, a lease time, 'ignore' or 'infinite'",
    },
  },
  /** SRV service and protocol: libvirt's own character sets; one DNS label after the '_'. */
  srvService: { breaks: ',#" ', chars: /[A-Za-z0-9_\-+/*]/, allowed: "letters, digits and '_-+/*'", maxBytes: 62 },
  srvProtocol: { breaks: ',#" ', chars: /[A-Za-z0-9\-+/]/, allowed: "letters, digits and '-+/'", maxBytes: 62 },
  /** TXT text: dnsmasq makes one string per ',' and reads '#' and '"' as syntax. */
  txtValue: { breaks: ',#"', chars: /./su, allowed: 'any other character', maxBytes: 512 },
  /** A file or directory (tftp-root=DIR[,IFACE], dhcp-boot=FILE[,SERVER]; 'tag:' would make a tag). */
  path: { breaks: ',#" :', chars: /[A-Za-z0-9._/+@%~-]/, allowed: "letters, digits and '._/+@%~-'", maxBytes: 255 },
  /** A MAC address as written (dhcp-hostsfile keeps it verbatim). */
  mac: { breaks: ',#" ', chars: /[0-9A-Fa-f:]/, allowed: "hexadecimal digits and ':'", maxBytes: 17 },
  /** A DHCPv6 client DUID: at most 130 bytes as colon-separated hex. */
  duid: { breaks: ',#" ', chars: /[0-9A-Fa-f:]/, allowed: "hexadecimal digits and ':'", maxBytes: 389 },
  /** The network name: in a comment line and, XML-escaped as libvirt does, in the hosts file paths. */
  networkName: { breaks: ',/# ', chars: /./su, allowed: 'any other character', maxBytes: 100 },
  /** The bridge (interface=IFACE): a device name, or a template with '%d' the driver fills in. */
  bridgeName: {
    breaks: ',/#" ',
    chars: new RegExp(`[%${DEVICE_NAME_CHARS}]`),
    allowed: "letters, digits and '_.:-%'",
    maxBytes: DEVICE_NAME_MAX,
  },
  /** A <dnsmasq:option>: a whole configuration line of the administrator's choosing, but one line. */
  optionLine: { breaks: '', chars: /./su, allowed: 'any other character', maxBytes: 1023 },
} satisfies Record<string, ValueRule>;

/** The files virtwall writes for a network's dnsmasq, as an error names them. */
const FILES = { conf: 'configuration', hostsfile: 'DHCP hosts file', addnhosts: 'hosts file' } as const;
export type DnsmasqFile = keyof typeof FILES;

export interface DnsmasqField {
  /** Element path from <network>; elements of the dnsmasq namespace as dnsmasq:NAME. */
  path: string;
  /** The attribute holding the value; none: the element's text. */
  attribute?: string;
  /** What the value is, for the error message. */
  what: string;
  file: DnsmasqFile;
  rule: ValueRule;
}

export const DNSMASQ_FIELDS: readonly DnsmasqField[] = [
  { path: 'network/name', what: 'network name', file: 'conf', rule: RULES.networkName },
  { path: 'network/bridge', attribute: 'name', what: 'bridge name', file: 'conf', rule: RULES.bridgeName },
  { path: 'network/domain', attribute: 'name', what: 'domain name', file: 'conf', rule: RULES.dnsName },
  {
    path: 'network/dns/forwarder',
    attribute: 'domain',
    what: 'DNS forwarder domain',
    file: 'conf',
    rule: RULES.dnsName,
  },
  { path: 'network/dns/txt', attribute: 'name', what: 'DNS TXT record name', file: 'conf', rule: RULES.dnsName },
  { path: 'network/dns/txt', attribute: 'value', what: 'DNS TXT record value', file: 'conf', rule: RULES.txtValue },
  { path: 'network/dns/srv', attribute: 'service', what: 'DNS SRV service', file: 'conf', rule: RULES.srvService },
  { path: 'network/dns/srv', attribute: 'protocol', what: 'DNS SRV protocol', file: 'conf', rule: RULES.srvProtocol },
  { path: 'network/dns/srv', attribute: 'domain', what: 'DNS SRV domain', file: 'conf', rule: RULES.dnsName },
  { path: 'network/dns/srv', attribute: 'target', what: 'DNS SRV target', file: 'conf', rule: RULES.dnsName },
  { path: 'network/dns/host/hostname', what: 'DNS host name', file: 'addnhosts', rule: RULES.dnsName },
  { path: 'network/ip/tftp', attribute: 'root', what: 'TFTP root', file: 'conf', rule: RULES.path },
  { path: 'network/ip/dhcp/bootp', attribute: 'file', what: 'BOOTP file', file: 'conf', rule: RULES.path },
  { path: 'network/ip/dhcp/host', attribute: 'mac', what: 'DHCP host MAC address', file: 'hostsfile', rule: RULES.mac },
  { path: 'network/ip/dhcp/host', attribute: 'id', what: 'DHCP host id', file: 'hostsfile', rule: RULES.duid },
  {
    path: 'network/ip/dhcp/host',
    attribute: 'name',
    what: 'DHCP host name',
    file: 'hostsfile',
    rule: RULES.dhcpHostName,
  },
  {
    path: 'network/dnsmasq:options/dnsmasq:option',
    attribute: 'value',
    what: 'dnsmasq option',
    file: 'conf',
    rule: RULES.optionLine,
  },
];

/** Why `value` breaks `rule`, or undefined when it does not. */
export function ruleViolation(rule: ValueRule, value: string): string | undefined {
  for (const c of value) {
    if (/\p{Cc}/u.test(c))
      return `control character '${printable(c)}' would break dnsmasq's line-by-line configuration`;
    if (rule.breaks.includes(c)) return `'${c}' would end, split or comment out the value in dnsmasq's syntax`;
    if (!rule.chars.test(c)) return `character '${printable(c)}' is not allowed (allowed: ${rule.allowed})`;
  }
  const bytes = Buffer.byteLength(value);
  if (bytes > rule.maxBytes) return `${bytes} bytes is too long (at most ${rule.maxBytes})`;
  if (rule.shape && !rule.shape.test(value)) return `expected ${rule.shape.expected}`;
  return undefined;
}

function checkField(field: DnsmasqField, el: XmlElement): void {
  const value = field.attribute === undefined ? textContent(el) : el.attrs[field.attribute];
  if (value === undefined) return;
  const why = ruleViolation(field.rule, value);
  if (why)
    throw invalidInput(
      `${field.what} '${printable(value)}' cannot go into dnsmasq's ${FILES[field.file]}: ${why}`,
      locationOf(el, field.attribute),
    );
}

/**
 * Refuses any value of the table that dnsmasq would not read as the one value it is. `path` is
 * where `el` sits: 'network' for a whole definition, e.g. 'network/dns/txt' for an update fragment.
 * An element is checked under its name as written (what the parser reads) and under its
 * namespace-resolved name (what the dnsmasq namespace reads), so neither can slip past.
 */
export function checkDnsmasqFields(el: XmlElement, path: string): void {
  walk(el, [path], {});
}

function walk(el: XmlElement, paths: readonly string[], outer: Scope): void {
  const scope = scopeIn(el, outer);
  for (const field of DNSMASQ_FIELDS) if (paths.includes(field.path)) checkField(field, el);
  for (const child of childElements(el)) {
    const names = new Set([child.name, qualifiedName(child, scopeIn(child, scope))]);
    const childPaths = paths.flatMap((p) => [...names].map((n) => `${p}/${n}`));
    const relevant = childPaths.filter((p) => DNSMASQ_FIELDS.some((f) => f.path === p || f.path.startsWith(`${p}/`)));
    if (relevant.length) walk(child, relevant, scope);
  }
}

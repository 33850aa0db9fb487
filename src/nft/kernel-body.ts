// What the kernel lists for a rule we load (`nft -j list`): nft stores a rule as bytecode and
// prints it back in its own normal form, which differs from what we write in a few known ways —
// a protocol match that only states the dependency of a later header match is dropped (`ether
// type ip` before `ip saddr`, `meta l4proto 17` before `th dport`), the transport header `th`
// takes the protocol's name, and numbers of symbolic types are printed by name. This is that
// normal form, computed from the typed rule, so a kernel body can be compared with ours by value.
import { statementJson, type Expr, type Statement, type Value } from './expr.js';
import type { KernelStatement } from './objects.js';

/** Ethernet types nft prints by name. */
// biome-ignore lint/complexity/useSimpleNumberKeys: EtherTypes are known by their hex values (IEEE's registry, nft's output)
const ETHER_TYPES: Record<number, string> = { 0x0800: 'ip', 0x0806: 'arp', 0x86dd: 'ip6' };
/** IP protocols nft prints by name. */
const INET_PROTOCOLS: Record<number, string> = {
  1: 'icmp',
  2: 'igmp',
  6: 'tcp',
  17: 'udp',
  50: 'esp',
  51: 'ah',
  58: 'ipv6-icmp',
  132: 'sctp',
  136: 'udplite',
};
/** Protocols whose header a transport header match (`th`) is printed as. */
const TRANSPORTS = new Set(['tcp', 'udp', 'udplite', 'sctp', 'dccp']);
/** The payload protocol a network-layer match states the dependency of. */
const NETWORK_OF: Record<string, string> = { ip: 'ip', ip6: 'ip6', arp: 'arp', ipv4: 'ip', ipv6: 'ip6' };

/** TCP flags by bit, in the order nft lists them. */
const TCP_FLAGS = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ecn', 'cwr'];
const isTcpFlags = (e: Expr) => e.kind === 'payload' && e.protocol === 'tcp' && e.field === 'flags';

/** TCP flag bits as nft lists them: one flag by name, several as a list of names. */
function flagNames(v: Value): Value {
  if (v.kind !== 'number' || Number(v.value) === 0) return v;
  const names = TCP_FLAGS.filter((_, bit) => Number(v.value) & (1 << bit));
  return names.length === 1 ? { kind: 'symbol', name: names[0]! } : { kind: 'flags', names };
}

/** Connection states by bit, in the order nft lists them. */
const CT_STATES = ['invalid', 'established', 'related', 'new', 'untracked'];
const isCtState = (e: Expr) => e.kind === 'ct' && e.key === 'state';

const isMatchOn = (s: Statement, pred: (e: Expr) => boolean): s is Extract<Statement, { kind: 'match' }> =>
  s.kind === 'match' && s.op === '==' && pred(s.left);
const isEtherType = (e: Expr) => e.kind === 'payload' && e.protocol === 'ether' && e.field === 'type';
const isNfproto = (e: Expr) => e.kind === 'meta' && e.key === 'nfproto';
const isL4proto = (e: Expr) =>
  (e.kind === 'meta' && e.key === 'l4proto') || (e.kind === 'payload' && e.protocol === 'ip' && e.field === 'protocol');

/** Payload protocols an expression reads. */
function protocols(e: Expr): string[] {
  if (e.kind === 'payload') return [e.protocol];
  if (e.kind === 'concat') return e.parts.flatMap(protocols);
  if (e.kind === 'and') return protocols(e.expr);
  return [];
}

/** A value nft prints by name, by the table of its type. */
function named(v: Value, names: Record<number, string>): Value {
  if (v.kind !== 'number') return v;
  const name = names[Number(v.value)];
  return name ? { kind: 'symbol', name } : v;
}

const valueName = (v: Value) =>
  v.kind === 'symbol' ? v.name : v.kind === 'number' ? INET_PROTOCOLS[Number(v.value)] : undefined;

function withTransport(e: Expr, name: string): Expr {
  if (e.kind === 'payload' && e.protocol === 'th') return { ...e, protocol: name };
  if (e.kind === 'concat') return { ...e, parts: e.parts.map((p) => withTransport(p, name)) };
  if (e.kind === 'and') return { ...e, expr: withTransport(e.expr, name) };
  return e;
}

/** The rule's statements as the kernel lists them (counters zeroed, as listing.ts reads them). */
export function kernelBody(statements: readonly Statement[]): KernelStatement[] {
  let out = [...statements];
  const later = (i: number) =>
    out
      .slice(i + 1)
      .flatMap((s) => (s.kind === 'match' ? protocols(s.left) : s.kind === 'set add' ? protocols(s.elem) : []));
  // the transport protocol names the `th` matches after it; meta l4proto is then only their dependency
  for (let i = 0; i < out.length; i++) {
    const s = out[i]!;
    if (!isMatchOn(s, isL4proto)) continue;
    const name = valueName(s.right);
    if (!name) continue;
    const rest = later(i);
    const transport = TRANSPORTS.has(name) && rest.includes('th');
    if (transport)
      out = out.map((x, j) => (j > i && x.kind === 'match' ? { ...x, left: withTransport(x.left, name) } : x));
    const dependency = s.left.kind === 'meta' && (transport || rest.includes(name === 'ipv6-icmp' ? 'icmpv6' : name));
    if (dependency) out.splice(i--, 1);
  }
  // a network protocol match followed by a match on that protocol's header is its dependency
  out = out.filter((s, i) => {
    if (!isMatchOn(s, (e) => isEtherType(e) || isNfproto(e))) return true;
    const name =
      s.right.kind === 'symbol'
        ? s.right.name
        : s.right.kind === 'number'
          ? ETHER_TYPES[Number(s.right.value)]
          : undefined;
    const network = name && NETWORK_OF[name];
    return !network || !later(i).includes(network);
  });
  return out.map((s) => {
    if (s.kind !== 'match') return statementJson(s);
    if (isCtState(s.left) && s.right.kind === 'flags') {
      return statementJson({
        ...s,
        right: {
          kind: 'flags',
          names: CT_STATES.filter((n) => (s.right as { names: readonly string[] }).names.includes(n)),
        },
      });
    }
    if (s.left.kind === 'and' && isTcpFlags(s.left.expr)) {
      return statementJson({ ...s, left: { ...s.left, mask: flagNames(s.left.mask) }, right: flagNames(s.right) });
    }
    const names = isEtherType(s.left) ? ETHER_TYPES : isL4proto(s.left) ? INET_PROTOCOLS : undefined;
    return statementJson(names ? { ...s, right: named(s.right, names) } : s);
  }) as KernelStatement[];
}

// Evaluates one frame against the nftables objects the backend loads (the typed chains, rules,
// sets and maps of its model, src/nft/objects.ts), the way the kernel does: the base chains of
// every hook a bridged frame passes, in the order the bridge path calls them, rule by rule,
// statement by statement, through jumps, gotos, returns and chain policies, with the mark set
// in one hook seen by the next. Every step is recorded. An expression or statement this file
// cannot evaluate ends the evaluation with an explicit "cannot evaluate" step and an
// undetermined verdict, never a guess. Pure.
import {
  exprText,
  statementText,
  valueText,
  type Element,
  type Expr,
  type Statement,
  type Value,
  type Verdict,
} from '../nft/expr.js';
import { objectKey, type Family, type NftChain, type NftRule, type Ruleset } from '../nft/objects.js';
import { formatIPv4, formatIPv6, formatMac } from '../util/address.js';
import { ETHERTYPE, type DecodedFrame } from './frame.js';
import type { ConntrackAssumption } from './packet.js';
import {
  bridgeDrop,
  bridgePorts,
  BRIDGE_DEVICE,
  decider,
  NO_DEVICE,
  NOT_TO_IP_HOOKS,
  routeOf,
  type Check,
  type EvalContext,
  type Evaluation,
  type HookName,
  type Step,
} from './steps.js';

/**
 * The hooks a bridged frame passes, in order. The inet hooks are br_netfilter's calls of the IP
 * hooks from the bridge path (IPv4/IPv6 frames without an 802.1Q tag, as libvirt's
 * bridge-nf-call-ip(6)tables=1 sets); a frame the host sends through the bridge passes only the
 * bridge's output and postrouting.
 */
const TRAVERSALS: Record<'forward' | 'host-in' | 'host-out', readonly (readonly [Family, HookName])[]> = {
  forward: [
    ['bridge', 'prerouting'],
    ['inet', 'prerouting'],
    ['bridge', 'forward'],
    ['inet', 'forward'],
    ['bridge', 'postrouting'],
    ['inet', 'postrouting'],
  ],
  'host-in': [
    ['bridge', 'prerouting'],
    ['inet', 'prerouting'],
    ['bridge', 'input'],
    ['inet', 'input'],
  ],
  'host-out': [
    ['bridge', 'output'],
    ['bridge', 'postrouting'],
  ],
};

export type NftContext = EvalContext;

class CannotEvaluate extends Error {}

// --- reading the frame --------------------------------------------------------------------------

type Shown = 'mac' | 'ipv4' | 'ipv6' | 'hex' | 'dec';

interface Field {
  base: 'll' | 'nh' | 'th';
  offset: number;
  len: number;
  shown: Shown;
}
const fld = (base: Field['base'], offset: number, len: number, shown: Shown = 'dec'): Field => ({
  base,
  offset,
  len,
  shown,
});

/** Header fields by nft's protocol and field name: where they are (bits) and how they read. */
const PAYLOAD: Record<string, Record<string, Field>> = {
  ether: { daddr: fld('ll', 0, 48, 'mac'), saddr: fld('ll', 48, 48, 'mac'), type: fld('ll', 96, 16, 'hex') },
  vlan: { pcp: fld('ll', 112, 3), id: fld('ll', 116, 12), type: fld('ll', 128, 16, 'hex') },
  arp: {
    htype: fld('nh', 0, 16),
    ptype: fld('nh', 16, 16, 'hex'),
    hlen: fld('nh', 32, 8),
    plen: fld('nh', 40, 8),
    operation: fld('nh', 48, 16),
    'saddr ether': fld('nh', 64, 48, 'mac'),
    'saddr ip': fld('nh', 112, 32, 'ipv4'),
    'daddr ether': fld('nh', 144, 48, 'mac'),
    'daddr ip': fld('nh', 192, 32, 'ipv4'),
  },
  ip: {
    dscp: fld('nh', 8, 6),
    protocol: fld('nh', 72, 8),
    saddr: fld('nh', 96, 32, 'ipv4'),
    daddr: fld('nh', 128, 32, 'ipv4'),
  },
  ip6: {
    dscp: fld('nh', 4, 6),
    nexthdr: fld('nh', 48, 8),
    saddr: fld('nh', 64, 128, 'ipv6'),
    daddr: fld('nh', 192, 128, 'ipv6'),
  },
  th: { sport: fld('th', 0, 16), dport: fld('th', 16, 16) },
  tcp: { sport: fld('th', 0, 16), dport: fld('th', 16, 16), flags: fld('th', 104, 8, 'hex') },
  udp: { sport: fld('th', 0, 16), dport: fld('th', 16, 16) },
  icmp: { type: fld('th', 0, 8), code: fld('th', 8, 8) },
  icmpv6: { type: fld('th', 0, 8), code: fld('th', 8, 8) },
};

/**
 * What nft makes each protocol's fields depend on (the match it adds before them): a frame
 * without that header never matches a rule reading them, whatever the operator.
 */
const NEEDS: Record<string, (f: DecodedFrame) => string | undefined> = {
  ether: () => undefined,
  vlan: (f) => (f.etherType === ETHERTYPE.vlan ? undefined : 'no 802.1Q tag'),
  arp: (f) => (f.etherType === ETHERTYPE.arp ? undefined : 'not an ARP frame'),
  ip: (f) => (f.etherType === ETHERTYPE.ipv4 ? undefined : 'not an IPv4 frame'),
  ip6: (f) => (f.etherType === ETHERTYPE.ipv6 ? undefined : 'not an IPv6 frame'),
  th: (f) => (f.th !== undefined ? undefined : 'no transport header'),
  tcp: (f) => (f.l4proto === 6 && f.th !== undefined ? undefined : 'not TCP'),
  udp: (f) => (f.l4proto === 17 && f.th !== undefined ? undefined : 'not UDP'),
  icmp: (f) => (f.innerType === ETHERTYPE.ipv4 && f.l4proto === 1 ? undefined : 'not ICMP'),
  icmpv6: (f) => (f.innerType === ETHERTYPE.ipv6 && f.l4proto === 58 ? undefined : 'not ICMPv6'),
};

function readBits(bytes: Uint8Array, start: number, len: number): bigint | undefined {
  if (start < 0 || start + len > bytes.length * 8) return undefined;
  let v = 0n;
  for (let i = Math.floor(start / 8); i < Math.ceil((start + len) / 8); i++) v = (v << 8n) | BigInt(bytes[i]!);
  const extra = BigInt(Math.ceil((start + len) / 8) * 8 - (start + len));
  return (v >> extra) & ((1n << BigInt(len)) - 1n);
}

/** What an expression reads in this packet. */
type Actual =
  | { kind: 'int'; value: bigint; bits: number; shown: Shown }
  | { kind: 'string'; text: string }
  | { kind: 'ctstate'; name: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'concat'; parts: Actual[] }
  /** The expression has nothing to read: the rule stops here (nft breaks). */
  | { kind: 'absent'; why: string };

const int = (value: bigint, bits: number, shown: Shown = 'dec'): Actual => ({ kind: 'int', value, bits, shown });

function actualText(a: Actual): string {
  switch (a.kind) {
    case 'int': {
      const bytes = (n: number) =>
        Array.from({ length: n }, (_, i) => Number((a.value >> BigInt(8 * (n - 1 - i))) & 0xffn));
      if (a.shown === 'mac') return formatMac(bytes(6));
      if (a.shown === 'ipv4') return formatIPv4(bytes(4));
      if (a.shown === 'ipv6') return formatIPv6(bytes(16));
      if (a.shown === 'hex') return `0x${a.value.toString(16).padStart(Math.ceil(a.bits / 4), '0')}`;
      return a.value.toString();
    }
    case 'string':
      return JSON.stringify(a.text);
    case 'ctstate':
      return a.name;
    case 'bool':
      return a.value ? 'exists' : 'missing';
    case 'concat':
      return a.parts.map(actualText).join(' . ');
    case 'absent':
      return `nothing (${a.why})`;
  }
}

/** Where the packet is: the hook's family and devices, and what earlier statements set. */
interface State {
  family: Family;
  iifname: string;
  oifname: string;
  mark: bigint;
}

/** The TCP option kinds present in the frame's TCP header. */
function tcpOptions(f: DecodedFrame): Set<number> | undefined {
  if (f.l4proto !== 6 || f.th === undefined || f.bytes.length < f.th + 20) return undefined;
  const end = Math.min(f.bytes.length, f.th + (f.bytes[f.th + 12]! >> 4) * 4);
  const kinds = new Set<number>();
  for (let at = f.th + 20; at < end; ) {
    const kind = f.bytes[at]!;
    kinds.add(kind);
    if (kind === 0) break;
    at += kind === 1 ? 1 : Math.max(2, f.bytes[at + 1] ?? 2);
  }
  return kinds;
}

const NFPROTO = { ipv4: 2n, ipv6: 10n, bridge: 7n };

function read(e: Expr, f: DecodedFrame, s: State, ct: ConntrackAssumption): Actual {
  switch (e.kind) {
    case 'payload': {
      const field = PAYLOAD[e.protocol]?.[e.field];
      if (!field) throw new CannotEvaluate(`the header field ${exprText(e)}`);
      const missing = NEEDS[e.protocol]!(f);
      if (missing) return { kind: 'absent', why: missing };
      return readRaw(field, f);
    }
    case 'raw':
      return readRaw(fld(e.base, e.offset, e.len, 'hex'), f);
    case 'meta':
      switch (e.key) {
        case 'iifname':
          return { kind: 'string', text: s.iifname };
        case 'oifname':
          return { kind: 'string', text: s.oifname };
        case 'mark':
          return int(s.mark, 32, 'hex');
        case 'l4proto':
          return f.l4proto === undefined ? { kind: 'absent', why: 'no transport protocol' } : int(BigInt(f.l4proto), 8);
        case 'nfproto':
          return int(
            s.family === 'bridge' ? NFPROTO.bridge : f.innerType === ETHERTYPE.ipv6 ? NFPROTO.ipv6 : NFPROTO.ipv4,
            8,
          );
        case 'protocol':
          return int(BigInt(f.innerType), 16, 'hex');
        default:
          throw new CannotEvaluate(`meta ${e.key}`);
      }
    case 'ct':
      if (e.dir !== undefined) throw new CannotEvaluate(exprText(e));
      if (e.key === 'state') return { kind: 'ctstate', name: ct.state };
      if (e.key === 'direction') return int(ct.direction === 'original' ? 0n : 1n, 8);
      throw new CannotEvaluate(`ct ${e.key} (only ct state and ct direction are assumptions of the PACKET)`);
    case 'tcp option': {
      const options = tcpOptions(f);
      return options === undefined
        ? { kind: 'absent', why: 'not TCP' }
        : { kind: 'bool', value: options.has(e.option) };
    }
    case 'concat': {
      const parts = e.parts.map((p) => read(p, f, s, ct));
      const absent = parts.find((p) => p.kind === 'absent');
      return absent ?? { kind: 'concat', parts };
    }
    case 'and': {
      const v = read(e.expr, f, s, ct);
      if (v.kind === 'absent') return v;
      if (v.kind !== 'int') throw new CannotEvaluate(exprText(e));
      return { ...v, value: v.value & numberOf(e.mask, e.expr), shown: 'hex' };
    }
  }
}

function readRaw(field: Field, f: DecodedFrame): Actual {
  const base = field.base === 'll' ? 0 : field.base === 'nh' ? f.nh : f.th;
  if (base === undefined) return { kind: 'absent', why: 'no transport header' };
  const v = readBits(f.bytes, base * 8 + field.offset, field.len);
  if (v === undefined)
    return { kind: 'absent', why: `the frame ends before @${field.base},${field.offset},${field.len}` };
  return int(v, field.len, field.shown);
}

// --- comparing with the rule's values -----------------------------------------------------------

/** nft's names of constants, by the expression they are compared with. */
const ETHER_TYPES: Record<string, bigint> = {
  ip: 0x0800n,
  ip6: 0x86ddn,
  arp: 0x0806n,
  vlan: 0x8100n,
  '8021ad': 0x88a8n,
};
/** IP protocol numbers by the names nft and the xtables tools print. */
export const L4_PROTOCOLS: Record<string, bigint> = {
  icmp: 1n,
  igmp: 2n,
  tcp: 6n,
  udp: 17n,
  esp: 50n,
  ah: 51n,
  'ipv6-icmp': 58n,
  icmpv6: 58n,
  sctp: 132n,
  udplite: 136n,
};
const SYMBOLS: Record<string, Record<string, bigint>> = {
  'ether type': ETHER_TYPES,
  'vlan type': ETHER_TYPES,
  'meta protocol': ETHER_TYPES,
  'meta nfproto': NFPROTO,
  'meta l4proto': L4_PROTOCOLS,
  'ip protocol': L4_PROTOCOLS,
  'ip6 nexthdr': L4_PROTOCOLS,
  'ct direction': { original: 0n, reply: 1n },
  'arp operation': { request: 1n, reply: 2n, rrequest: 3n, rreply: 4n, inrequest: 8n, inreply: 9n, nak: 10n },
};

const symbolKey = (e: Expr) =>
  e.kind === 'payload' ? `${e.protocol} ${e.field}` : e.kind === 'meta' || e.kind === 'ct' ? `${e.kind} ${e.key}` : '';

function bytesValue(bytes: readonly number[]): bigint {
  return bytes.reduce((v, b) => (v << 8n) | BigInt(b), 0n);
}

/** A constant as a number, for comparing with what `e` reads. */
function numberOf(v: Value, e: Expr): bigint {
  switch (v.kind) {
    case 'number':
      return BigInt(v.value);
    case 'ether':
      return bytesValue(v.addr.split(':').map((x) => parseInt(x, 16)));
    case 'ip':
      return bytesValue(v.addr.split('.').map(Number));
    case 'ip6': {
      const words = v.addr.includes('::') ? expandIpv6(v.addr) : v.addr.split(':');
      return words.reduce((acc, w) => (acc << 16n) | BigInt(parseInt(w || '0', 16)), 0n);
    }
    case 'symbol': {
      const n = SYMBOLS[symbolKey(e)]?.[v.name];
      if (n === undefined) throw new CannotEvaluate(`the constant ${v.name} for ${exprText(e)}`);
      return n;
    }
    default:
      throw new CannotEvaluate(`${valueText(v)} as a value of ${exprText(e)}`);
  }
}

/** What an expression read, with nft's name for it where it has one (`6 (tcp)`). */
function named(a: Actual, e: Expr): string {
  const names = a.kind === 'int' ? SYMBOLS[symbolKey(e)] : undefined;
  const name = names && Object.entries(names).find(([, v]) => a.kind === 'int' && v === a.value)?.[0];
  return name ? `${actualText(a)} (${name})` : actualText(a);
}

function expandIpv6(addr: string): string[] {
  const [head, tail] = addr.split('::') as [string, string];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  return [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
}

/** Whether what `e` read (`a`) is `v`: equal, in the prefix or range, one of the set. */
function matches(a: Actual, v: Value, e: Expr, sets: SetLookup): boolean {
  if (v.kind === 'set') return v.items.some((item) => matches(a, item, e, sets));
  if (v.kind === 'setref') return sets.find(v.name, (key) => matches(a, key, e, sets)) !== undefined;
  if (a.kind === 'concat') {
    if (v.kind !== 'concat' || e.kind !== 'concat' || v.parts.length !== a.parts.length)
      throw new CannotEvaluate(`${valueText(v)} against ${exprText(e)}`);
    return a.parts.every((p, i) => matches(p, v.parts[i]!, e.parts[i]!, sets));
  }
  switch (a.kind) {
    case 'string':
      if (v.kind !== 'string') throw new CannotEvaluate(`${valueText(v)} against ${exprText(e)}`);
      return v.text.endsWith('*') ? a.text.startsWith(v.text.slice(0, -1)) : a.text === v.text;
    case 'ctstate':
      if (v.kind === 'flags') return v.names.includes(a.name);
      if (v.kind === 'symbol') return v.name === a.name;
      throw new CannotEvaluate(`${valueText(v)} against ct state`);
    case 'bool':
      if (v.kind !== 'boolean') throw new CannotEvaluate(`${valueText(v)} against ${exprText(e)}`);
      return a.value === v.value;
    case 'int': {
      if (v.kind === 'prefix') {
        const drop = BigInt(a.bits - v.len);
        return a.value >> drop === numberOf(v.addr, e) >> drop;
      }
      if (v.kind === 'range') return numberOf(v.from, e) <= a.value && a.value <= numberOf(v.to, e);
      return a.value === numberOf(v, e);
    }
    case 'absent':
      return false;
  }
}

/** The named sets and maps of the table the rule is in. */
class SetLookup {
  constructor(
    private readonly model: Ruleset,
    private readonly family: Family,
  ) {}

  elements(name: string): Iterable<Element> {
    const s = this.model.sets.get(objectKey(this.family, name));
    if (!s) throw new CannotEvaluate(`@${name}: no such set in the ${this.family} table`);
    return s.elements.values();
  }

  find(name: string, keyMatches: (key: Value) => boolean): Element | undefined {
    for (const e of this.elements(name)) if (keyMatches(e.key)) return e;
    return undefined;
  }
}

// --- statements, rules, chains ------------------------------------------------------------------

type RuleResult =
  | { kind: 'next' }
  | { kind: 'verdict'; verdict: Verdict }
  | { kind: 'reject' }
  | { kind: 'cannot'; what: string };

/** Jumps deeper than this the kernel refuses to load (NFT_JUMP_STACK_SIZE). */
const MAX_DEPTH = 16;

class Evaluator {
  readonly steps: Step[] = [];

  constructor(
    private readonly model: Ruleset,
    private readonly frame: DecodedFrame,
    private readonly ct: ConntrackAssumption,
    readonly state: State,
  ) {}

  /** A base chain: its rules, then its policy when the frame falls off its end or returns. */
  runBase(chain: NftChain): 'accept' | 'drop' | 'reject' | 'cannot' {
    const out = this.runChain(chain, 1);
    if (out === 'accept' || out === 'drop' || out === 'reject' || out === 'cannot') return out;
    const policy = chain.hook?.policy ?? 'accept';
    this.steps.push({ kind: 'end', family: chain.family, chain: chain.name, outcome: `policy ${policy}`, depth: 1 });
    return policy;
  }

  /** 'return' also for falling off the end of a regular chain. */
  private runChain(chain: NftChain, depth: number): 'accept' | 'drop' | 'reject' | 'return' | 'cannot' {
    for (const [i, rule] of chain.rules.entries()) {
      const r = this.runRule(chain, i, rule, depth);
      if (r.kind === 'next') continue;
      if (r.kind === 'cannot') {
        this.steps.push({ kind: 'cannot', what: r.what, depth });
        return 'cannot';
      }
      if (r.kind === 'reject') return 'reject';
      const v = r.verdict;
      if (v.kind === 'continue') continue;
      if (v.kind === 'accept' || v.kind === 'drop') return v.kind;
      if (v.kind === 'return') return 'return';
      if (v.kind !== 'jump' && v.kind !== 'goto') continue;
      if (depth >= MAX_DEPTH) {
        this.steps.push({ kind: 'cannot', what: `a jump deeper than ${MAX_DEPTH} chains`, depth });
        return 'cannot';
      }
      const target = this.model.chains.get(objectKey(chain.family, v.target));
      if (!target) {
        this.steps.push({ kind: 'cannot', what: `${v.kind} ${v.target}: no such chain`, depth });
        return 'cannot';
      }
      const out = this.runChain(target, depth + 1);
      if (out === 'return')
        this.steps.push({ kind: 'end', family: chain.family, chain: target.name, outcome: 'return', depth: depth + 1 });
      if (out !== 'return') return out;
      // a goto's chain returns to this chain's caller
      if (v.kind === 'goto') return 'return';
    }
    return 'return';
  }

  private runRule(chain: NftChain, index: number, rule: NftRule, depth: number): RuleResult {
    const checks: Check[] = [];
    const step = (matched: boolean, outcome?: string) =>
      this.steps.push({
        kind: 'rule',
        family: chain.family,
        chain: chain.name,
        index: index + 1,
        text: rule.statements.map(statementText).join(' '),
        comment: rule.comment,
        matched,
        checks,
        ...(outcome !== undefined ? { outcome } : {}),
        depth,
      });
    const sets = new SetLookup(this.model, chain.family);
    try {
      for (const s of rule.statements) {
        const r = this.runStatement(s, sets, checks);
        if (r === 'break') {
          step(false);
          return { kind: 'next' };
        }
        if (r === 'go on') continue;
        step(
          true,
          r.kind === 'reject' ? statementText(s) : r.kind === 'verdict' ? statementText(r.verdict) : undefined,
        );
        return r;
      }
      step(true, 'continue');
      return { kind: 'next' };
    } catch (err) {
      if (!(err instanceof CannotEvaluate)) throw err;
      step(false);
      return { kind: 'cannot', what: `cannot evaluate ${err.message}` };
    }
  }

  private runStatement(s: Statement, sets: SetLookup, checks: Check[]): 'go on' | 'break' | RuleResult {
    const text = statementText(s);
    const check = (ok: boolean, detail: string) => {
      checks.push({ statement: text, ok, detail });
      return ok ? 'go on' : 'break';
    };
    switch (s.kind) {
      case 'match': {
        const a = read(s.left, this.frame, this.state, this.ct);
        if (a.kind === 'absent') return check(false, `${exprText(s.left)}: ${a.why}`);
        const hit = matches(a, s.right, s.left, sets);
        const ok = s.op === '==' ? hit : !hit;
        const where = s.right.kind === 'setref' ? `@${s.right.name}` : valueText(s.right);
        const relation =
          s.op === '=='
            ? hit
              ? 'matches'
              : 'does not match'
            : hit
              ? 'matches (the rule wants not)'
              : 'does not match, as wanted';
        return check(ok, `${exprText(s.left)} is ${named(a, s.left)}: ${relation} ${where}`);
      }
      case 'counter':
      case 'log':
        return 'go on';
      case 'mangle': {
        // a traced port's trace chain (nwfilter-trace): the flag changes no verdict
        if (s.key.kind === 'meta' && s.key.key === 'nftrace') return 'go on';
        if (s.key.kind !== 'meta' || s.key.key !== 'mark') throw new CannotEvaluate(text);
        let mark: bigint;
        if (s.value.kind === 'lookup') {
          const key = read(s.value.key, this.frame, this.state, this.ct);
          const found =
            key.kind === 'absent'
              ? undefined
              : sets.find(s.value.map, (k) => matches(key, k, s.value.kind === 'lookup' ? s.value.key : s.key, sets));
          if (!found?.value)
            return check(false, `${exprText(s.value.key)} is ${actualText(key)}: no element in @${s.value.map}`);
          mark = numberOf(found.value, s.key);
        } else mark = numberOf(s.value, s.key);
        this.state.mark = mark;
        checks.push({ statement: text, ok: true, detail: `meta mark is now ${actualText(int(mark, 32, 'hex'))}` });
        return 'go on';
      }
      case 'vmap': {
        const key = read(s.key, this.frame, this.state, this.ct);
        if (key.kind === 'absent') return check(false, `${exprText(s.key)}: ${key.why}`);
        const found = sets.find(s.map, (k) => matches(key, k, s.key, sets));
        if (found?.value?.kind !== 'verdict')
          return check(false, `${exprText(s.key)} is ${actualText(key)}: no element in @${s.map}`);
        check(true, `${exprText(s.key)} is ${actualText(key)}: @${s.map} says ${valueText(found.value)}`);
        return { kind: 'verdict', verdict: found.value.verdict };
      }
      case 'accept':
      case 'drop':
      case 'return':
      case 'continue':
      case 'jump':
      case 'goto':
        return { kind: 'verdict', verdict: s };
      case 'reject':
        return { kind: 'reject' };
      case 'set add':
        throw new CannotEvaluate(`${text}: it counts the host's connections, which a PACKET does not state`);
      default:
        throw new CannotEvaluate(text);
    }
  }
}

/** The devices a hook of `family` sees, in libvirt's direction, with the port's name. */
function devices(ctx: NftContext, family: Family): Pick<State, 'iifname' | 'oifname'> {
  // br_netfilter's IP hooks see the bridge, not its ports
  if (family === 'inet') return { iifname: BRIDGE_DEVICE, oifname: ctx.peer === 'host' ? NO_DEVICE : BRIDGE_DEVICE };
  const ports = bridgePorts(ctx);
  return { iifname: ports.in, oifname: ports.out };
}

/** The frame through every hook it passes, as the kernel would take it with `model` loaded. */
export function evaluateNft(model: Ruleset, frame: DecodedFrame, ctx: NftContext): Evaluation {
  const route = routeOf(ctx);
  const dropped = bridgeDrop(frame, route);
  if (dropped) return dropped;
  const ev = new Evaluator(model, frame, ctx.ct, { family: 'bridge', iifname: '', oifname: '', mark: 0n });
  const ipFrame = frame.etherType === ETHERTYPE.ipv4 || frame.etherType === ETHERTYPE.ipv6;
  for (const [family, hook] of TRAVERSALS[route]) {
    const chains = [...model.chains.values()]
      .filter((c) => c.family === family && c.hook?.hook === hook)
      .sort((a, b) => a.hook!.priority - b.hook!.priority);
    if (chains.length === 0) continue;
    if (family === 'inet' && !ipFrame) {
      ev.steps.push({ kind: 'skip', family, hook, why: NOT_TO_IP_HOOKS, depth: 0 });
      continue;
    }
    Object.assign(ev.state, { family, ...devices(ctx, family) });
    for (const chain of chains) {
      ev.steps.push({
        kind: 'hook',
        family,
        hook,
        chain: chain.name,
        priority: chain.hook!.priority,
        policy: chain.hook!.policy,
        depth: 0,
      });
      const out = ev.runBase(chain);
      const where = `the ${family} ${hook} hook (chain ${chain.name})`;
      if (out === 'cannot')
        return { steps: ev.steps, verdict: 'undetermined', reason: `evaluation stopped in ${where}` };
      if (out === 'drop' || out === 'reject')
        return { steps: ev.steps, verdict: out, reason: decider(ev.steps, where) };
    }
  }
  return { steps: ev.steps, verdict: 'accept', reason: 'no hook dropped the frame' };
}

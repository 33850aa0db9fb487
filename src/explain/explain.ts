// nwfilter-explain: a port's packets through the rules the active backend holds for it, every
// step tied back to the XML it came from. The nftables evaluator (nft-eval.ts) names a rule only
// by its comment ("FILTER/.../FILTER prio=N", src/backends/nftables/trace.ts); the xtables one
// (xtables-eval.ts) by its chain and position, which the ebiptables backend's plan ties to the
// filter rule it appended there. This file finds the filter rules behind a rule among the port's
// instantiated rules: their path through <filterref>s, libvirt chain, priority, XML,
// file:line:col and variables' values. Then it renders the explanation as text; --json gives the
// report itself. Pure.
import { formatRule } from '../conf/nwfilter/format.js';
import { protocolSpec } from '../conf/nwfilter/protocols.js';
import { formatLocation, invalidInput } from '../errors.js';
import type { HeldRules, PortFilter } from '../nwfilter/backend.js';
import type { RuleInstance } from '../nwfilter/instantiate.js';
import { ruleOrigin } from '../backends/nftables/trace.js';
import { ruleOrigins, type RuleOrigin } from '../backends/ebiptables/plan.js';
import { decodeFrame, hex, parseHexFrame } from './frame.js';
import { evaluateNft } from './nft-eval.js';
import { MAX_FRAMES, microflowFrame, parseMicroflow, type ConntrackAssumption } from './packet.js';
import type { Direction, FinalVerdict, Peer, Step } from './steps.js';
import { evaluateXtables, type XtablesHeld } from './xtables-eval.js';

export interface ExplainRequest {
  direction: Direction;
  peer: Peer;
  /** A microflow; with `frames`, only its `ct.*` assumptions. */
  packet?: string;
  /** Frames as hex (--frame, --pcap). */
  frames?: readonly string[];
}

/** A filter rule behind an nft rule. */
export interface RuleSource {
  path: readonly string[];
  chain: string;
  priority: number;
  xml: string;
  /** file:line:col of its definition. */
  location?: string;
  /** The variables it uses, with the values the port gave them. */
  variables: Record<string, string[]>;
}

export type ExplainedStep = Step & {
  sources?: RuleSource[];
  enters?: string;
  /** Why `sources` are candidates rather than the one rule behind it. */
  candidates?: string;
  /** What a rule of the layout's own (not of a filter) is for. */
  about?: string;
};

export interface PacketExplanation {
  packet: string;
  frame: string;
  ct: ConntrackAssumption;
  steps: ExplainedStep[];
  verdict: FinalVerdict;
  reason: string;
}

export interface ExplainReport {
  portdev: string;
  filter: string;
  backend: 'nftables' | 'ebiptables';
  layout: string;
  direction: Direction;
  peer: Peer;
  packets: PacketExplanation[];
}

/** A port and what its backend holds: the nftables model, or the xtables tables as listed. */
export type PortRules = { port: PortFilter } & HeldRules;

/** `ct.state=...,ct.direction=...` alone: the assumption for frames given as bytes. */
function parseConntrack(text: string | undefined): ConntrackAssumption {
  const ct: ConntrackAssumption = { state: 'new', direction: 'original' };
  if (text === undefined || text === '') return ct;
  const fields = text.split(',').map((w) => w.trim());
  if (fields.some((w) => !w.startsWith('ct.')))
    throw invalidInput('PACKET: with --frame or --pcap, PACKET may only state ct.state and ct.direction');
  // the microflow table checks them; a frame's own fields come from its bytes
  const parsed = parseMicroflow(['eth.src=00:00:00:00:00:00', 'eth.dst=00:00:00:00:00:00', ...fields].join(','));
  return parsed.ct;
}

interface Input {
  label: string;
  bytes: Uint8Array;
  ct: ConntrackAssumption;
}

/** The packets a request describes, checked (the CLI checks before it asks the daemon, which checks again). */
export function inputsOf(req: ExplainRequest): Input[] {
  if (req.frames !== undefined) {
    if (req.frames.length === 0) throw invalidInput('no frames to explain');
    if (req.frames.length > MAX_FRAMES) throw invalidInput(`at most ${MAX_FRAMES} frames at once`);
    const ct = parseConntrack(req.packet);
    return req.frames.map((f, i) => ({ label: `frame ${i + 1}`, bytes: parseHexFrame(f), ct }));
  }
  if (req.packet === undefined) throw invalidInput('PACKET, --frame or --pcap is required');
  const m = parseMicroflow(req.packet);
  return [{ label: req.packet, bytes: microflowFrame(m), ct: m.ct }];
}

/** The nft verdicts a rule's action becomes (an accept returns in libvirt's iptables sub-chains; nft drops where it cannot reject). */
const ACTS_AS: Record<string, readonly string[]> = {
  accept: ['accept', 'return'],
  drop: ['drop'],
  reject: ['reject', 'drop'],
  return: ['return'],
  continue: ['continue'],
};

const chainId = (name: string) => name.replace(/[^A-Za-z0-9_]/g, '_');

/** Whether an instance's path is the one a comment names (whose start may be cut to `...`). */
function samePath(instance: readonly string[], named: readonly string[]): boolean {
  const full = instance.join('/');
  const text = named.join('/');
  return text.startsWith('...') ? full.endsWith(text.slice(3)) : full === text;
}

function variablesOf(instance: RuleInstance): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const e of instance.expansions)
    for (const a of Object.values(e.attrs))
      if (a?.value.kind === 'text') {
        out[a.value.variable] ??= new Set();
        out[a.value.variable]!.add(a.value.text);
      }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v]]));
}

/**
 * The filter rules an nft rule came from: those its comment names, narrowed by the chain it
 * is in (`SHAPE_from_ipv4_ip` holds libvirt chain ipv4-ip's rules leaving the guest).
 */
function sourcesOf(step: Step & { kind: 'rule' }, port: PortFilter): Pick<ExplainedStep, 'sources' | 'enters'> {
  const origin = ruleOrigin(step.comment);
  if (!origin) return {};
  const all = port.instances.filter((i) => i.priority === origin.priority && samePath(i.path, origin.path));
  if (all.length === 0) {
    const last = step.text.split(' ').slice(-2);
    return last[0] === 'jump' ? { enters: `libvirt chain ${origin.path.join('/')} (priority ${origin.priority})` } : {};
  }
  const suffix = step.chain.slice(step.chain.indexOf('_') + 1);
  const m = /^(from|to)(?:_(.+))?$/.exec(suffix);
  const verdict = /\breject\b/.test(step.text) ? 'reject' : step.text.split(' ').at(-1)!;
  const narrowed = all.filter(
    (i) =>
      (!m ||
        ((m[2] === undefined ? i.chain === 'root' : chainId(i.chain) === m[2]) &&
          i.rule.direction !== (m[1] === 'from' ? 'in' : 'out'))) &&
      ACTS_AS[i.rule.action]!.includes(verdict),
  );
  return { sources: (narrowed.length > 0 ? narrowed : all).map(sourceOf) };
}

function sourceOf(i: RuleInstance): RuleSource {
  return {
    path: i.path,
    chain: i.chain,
    priority: i.priority,
    xml: formatRule(i.rule).trimEnd(),
    ...(i.rule.source ? { location: formatLocation({ ...i.rule.source, element: undefined }) } : {}),
    variables: variablesOf(i),
  };
}

/** Rules of the layout around the ports' own chains (chains.ts, mac-filter.ts), by the shared chain they are in. */
const SHARED_CHAINS: Record<string, string> = {
  'virtwall-mac-filter': "mac_filter: a port's MAC check, not a filter rule",
  'libvirt-in': "libvirt's dispatch of traffic from a guest to its port's FI chain",
  'libvirt-out': "libvirt's dispatch of traffic to a guest to its port's FO chain",
  'libvirt-host-in': "libvirt's dispatch of traffic from a guest to the host to its port's HI chain",
  'libvirt-in-post': 'libvirt accepts what a guest sends once its FI chain let it through',
};

/** What a layout rule outside the port's chains is for; undefined for rules that are not the layout's. */
function layoutRule(step: Step & { kind: 'rule' }): string | undefined {
  if (SHARED_CHAINS[step.chain]) return SHARED_CHAINS[step.chain];
  const target = /^(?:jump|goto) (.+)$/.exec(step.outcome ?? '')?.[1];
  if (target === undefined) return undefined;
  if (SHARED_CHAINS[target]) return `the jump to libvirt's shared chain ${target}`;
  if (/^libvirt-I-/.test(target)) return "libvirt's jump to a port's chain for traffic from its guest";
  if (/^libvirt-O-/.test(target)) return "libvirt's jump to a port's chain for traffic to its guest";
  return undefined;
}

/** The libvirt chain (`root`, `ipv4-ip`) and side an ebtables chain of the port holds. */
function ebChain(chain: string, portdev: string): { libvirt: string; fromGuest: boolean } | undefined {
  if (chain === `libvirt-I-${portdev}` || chain === `libvirt-O-${portdev}`)
    return { libvirt: 'root', fromGuest: chain[8] === 'I' };
  const sub = chain.startsWith(`I-${portdev}-`) || chain.startsWith(`O-${portdev}-`);
  return sub ? { libvirt: chain.slice(portdev.length + 3), fromGuest: chain[0] === 'I' } : undefined;
}

const IP_LAYER: Record<string, string> = { iptables: 'ipv4', ip6tables: 'ipv6' };

/**
 * The filter rule behind an xtables rule: the one the plan appended at its position, when the
 * chain holds as many rules as the plan appends there; else every filter rule that could be there.
 */
function xtSourcesOf(
  step: Step & { kind: 'rule' },
  port: PortFilter,
  origins: ReadonlyMap<string, readonly RuleOrigin[]>,
  held: XtablesHeld,
): Pick<ExplainedStep, 'sources' | 'enters' | 'candidates' | 'about'> {
  const tool = step.tool!;
  const planned = origins.get(`${tool} ${step.chain}`);
  const eb = tool === 'ebtables' ? ebChain(step.chain, port.portdev) : undefined;
  const ownIp = tool !== 'ebtables' && /^[FH][IO]-/.test(step.chain) && step.chain.slice(3) === port.portdev;
  if (!planned && !eb && !ownIp) {
    const about = layoutRule(step);
    return about ? { about } : {};
  }
  const listed = held.find((h) => h.tool === tool)?.table.rules.filter((r) => r.chain === step.chain).length ?? 0;
  if (planned && planned.length === listed) {
    const origin = planned[step.index - 1]!;
    return 'subChain' in origin
      ? { enters: `libvirt chain ${origin.subChain} (priority ${origin.priority})` }
      : { sources: [sourceOf(origin.instance)] };
  }
  const target = step.outcome?.split(' ').at(-1)?.toLowerCase() ?? '';
  const fits = port.instances.filter((i) => {
    const layer = i.rule.protocol ? protocolSpec(i.rule.protocol).layer : 'ethernet';
    const side = eb
      ? eb.libvirt === i.chain && i.rule.direction !== (eb.fromGuest ? 'in' : 'out')
      : IP_LAYER[tool] === layer;
    return side && (layer === 'ethernet') === (tool === 'ebtables') && ACTS_AS[i.rule.action]!.includes(target);
  });
  return {
    sources: fits.map(sourceOf),
    candidates: `the kernel's ${step.chain} holds ${listed} rules where the port's filter puts ${planned?.length ?? 0}: the rule is not tied to one filter rule; these fit its chain and verdict`,
  };
}

export function explainPort(rules: PortRules, req: ExplainRequest): ExplainReport {
  const origins = 'xtables' in rules ? ruleOrigins(rules.port.portdev, rules.port.instances) : new Map();
  const explained = (s: Step): ExplainedStep =>
    s.kind !== 'rule'
      ? s
      : 'xtables' in rules
        ? { ...s, ...xtSourcesOf(s, rules.port, origins, rules.xtables) }
        : { ...s, ...sourcesOf(s, rules.port) };
  const packets = inputsOf(req).map((input): PacketExplanation => {
    const ctx = { portdev: rules.port.portdev, direction: req.direction, peer: req.peer, ct: input.ct };
    const frame = decodeFrame(input.bytes);
    const ev = 'xtables' in rules ? evaluateXtables(rules.xtables, frame, ctx) : evaluateNft(rules.model, frame, ctx);
    return {
      packet: input.label,
      frame: hex(input.bytes),
      ct: input.ct,
      steps: ev.steps.map(explained),
      verdict: ev.verdict,
      reason: ev.reason,
    };
  });
  return {
    portdev: rules.port.portdev,
    filter: rules.port.filter,
    backend: 'xtables' in rules ? 'ebiptables' : 'nftables',
    layout: rules.layout,
    direction: req.direction,
    peer: req.peer,
    packets,
  };
}

// --- text ---------------------------------------------------------------------------------------

const WAY: Record<`${Direction} ${Peer}`, string> = {
  'out port': 'from the guest through PORT to another port of the bridge',
  'out host': 'from the guest through PORT to the host',
  'in port': 'from another port of the bridge through PORT to the guest',
  'in host': 'from the host through PORT to the guest',
};

/** The report as lines a person reads: one block per packet, one line per step and check. */
export function renderExplanation(r: ExplainReport): string {
  const out: string[] = [];
  out.push(`port ${r.portdev}, filter ${r.filter || '(none)'}, ${r.backend} backend (${r.layout} layout)`);
  out.push(`direction ${r.direction}: ${WAY[`${r.direction} ${r.peer}`].replace('PORT', r.portdev)}`);
  for (const p of r.packets) {
    out.push('', `packet: ${p.packet}`, `  assumed: ct state ${p.ct.state}, ct direction ${p.ct.direction}`);
    out.push(`  frame: ${p.frame}`);
    for (const s of p.steps) out.push(...stepLines(s));
    out.push(`verdict: ${p.verdict.toUpperCase()} (${p.reason})`);
  }
  return `${out.join('\n')}\n`;
}

function stepLines(s: ExplainedStep): string[] {
  const pad = '  '.repeat(s.depth + 1);
  switch (s.kind) {
    case 'hook':
      return [
        `${pad}hook ${s.family} ${s.hook}: ${s.table ? `table ${s.table} ` : ''}chain ${s.chain} (priority ${s.priority}, policy ${s.policy})`,
      ];
    case 'skip':
      return [`${pad}hook ${s.family} ${s.hook}: not passed (${s.why})`];
    case 'end':
      return [`${pad}end of ${s.chain}: ${s.outcome}`];
    case 'cannot':
      return [`${pad}CANNOT EVALUATE: ${s.what}`];
    case 'bridge':
      return [`${pad}bridge: ${s.what}`];
    case 'rule': {
      const lines = [
        `${pad}${s.chain} rule ${s.index}: ${s.matched ? `MATCH${s.outcome ? ` -> ${s.outcome}` : ''}` : 'no match'}`,
        s.tool ? `${pad}  ${s.tool}: ${s.text}` : `${pad}  nft: ${s.text}${s.comment ? ` comment "${s.comment}"` : ''}`,
      ];
      for (const c of s.checks) if (!s.matched ? !c.ok : true) lines.push(`${pad}  ${c.ok ? 'ok' : 'NO'}: ${c.detail}`);
      if (s.enters) lines.push(`${pad}  enters ${s.enters}`);
      if (s.about) lines.push(`${pad}  (${s.about})`);
      if (s.candidates) lines.push(`${pad}  candidates (${s.candidates}):`);
      for (const src of s.sources ?? []) {
        lines.push(
          `${pad}  from filter ${src.path.join(' -> ')}, chain ${src.chain}, priority ${src.priority}${src.location ? `, ${src.location}` : ''}`,
        );
        lines.push(...src.xml.split('\n').map((l) => `${pad}    ${l}`));
        const vars = Object.entries(src.variables);
        if (vars.length > 0)
          lines.push(`${pad}    variables: ${vars.map(([k, v]) => `${k}=${v.join(' ')}`).join(', ')}`);
      }
      return lines;
    }
  }
}

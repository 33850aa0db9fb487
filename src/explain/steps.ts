// What an evaluator of a backend's rules (nft-eval.ts, xtables-eval.ts) records: the steps a
// frame takes through the hooks, chains and rules, the final verdict and what decided it; and
// what both share of the bridge path (the route a direction and peer give, the bridge's own
// drop before any hook). explain.ts renders these steps, whichever backend they come from. Pure.
import type { Family } from '../nft/objects.js';
import type { XtTool } from '../xtables/rule.js';
import type { DecodedFrame } from './frame.js';
import type { ConntrackAssumption } from './packet.js';

/** libvirt's directions: `out` leaves the guest through its port, `in` goes to the guest. */
export type Direction = 'in' | 'out';
/** The other end of the frame: another port of the bridge, or the host (the bridge's own address). */
export type Peer = 'port' | 'host';
export type HookName = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';

export interface Check {
  /** The statement (nft) or option (xtables) as the tool writes it. */
  statement: string;
  ok: boolean;
  /** What the packet has there, and why it matches or not. */
  detail: string;
}

export type Step =
  | {
      kind: 'hook';
      family: Family;
      hook: HookName;
      /** The xtables table the chain is in (nft chains are named by themselves). */
      table?: string;
      chain: string;
      priority: number;
      policy: string;
      depth: number;
    }
  | { kind: 'skip'; family: Family; hook: HookName; why: string; depth: number }
  | {
      kind: 'rule';
      family: Family;
      /** The xtables tool holding the rule; none for an nft rule. */
      tool?: XtTool;
      chain: string;
      /** 1-based position in its chain. */
      index: number;
      /** The rule as its tool lists it. */
      text: string;
      comment: string;
      matched: boolean;
      checks: Check[];
      /** The verdict or action it took when it matched. */
      outcome?: string;
      depth: number;
    }
  | { kind: 'end'; family: Family; chain: string; outcome: string; depth: number }
  | { kind: 'cannot'; what: string; depth: number }
  /** What the bridge itself does before any hook. */
  | { kind: 'bridge'; what: string; depth: number };

export type FinalVerdict = 'accept' | 'drop' | 'reject' | 'undetermined';

export interface Evaluation {
  steps: Step[];
  verdict: FinalVerdict;
  /** Which step decided, in words. */
  reason: string;
}

export interface EvalContext {
  portdev: string;
  direction: Direction;
  peer: Peer;
  ct: ConntrackAssumption;
}

/** forward: port to port; host-in: guest to the host; host-out: the host to the guest. */
export type Route = 'forward' | 'host-in' | 'host-out';

export const routeOf = (ctx: EvalContext): Route =>
  ctx.peer === 'port' ? 'forward' : ctx.direction === 'out' ? 'host-in' : 'host-out';

/** Interface names no device can have (they hold spaces): no rule naming a device matches them. */
export const OTHER_PORT = '(another port)';
export const NO_DEVICE = '(none)';
export const BRIDGE_DEVICE = '(the bridge)';

/** The bridge's ports a frame enters and leaves by, in libvirt's direction, with the port's name. */
export function bridgePorts(ctx: EvalContext): { in: string; out: string } {
  const other = ctx.peer === 'host' ? NO_DEVICE : OTHER_PORT;
  return ctx.direction === 'out' ? { in: ctx.portdev, out: other } : { in: other, out: ctx.portdev };
}

/** br_handle_frame: a frame entering from a port with a group source address goes no further. */
export function bridgeDrop(frame: DecodedFrame, route: Route): Evaluation | undefined {
  if (route === 'host-out' || (frame.bytes[6]! & 1) === 0) return undefined;
  return {
    steps: [{ kind: 'bridge', what: 'the source MAC is a group address: the bridge drops the frame', depth: 0 }],
    verdict: 'drop',
    reason: 'the bridge drops frames from a group (multicast) source MAC',
  };
}

/** br_netfilter passes only IPv4 and IPv6 frames without an 802.1Q tag to the IP hooks. */
export const NOT_TO_IP_HOOKS = 'br_netfilter passes only IPv4 and IPv6 frames without an 802.1Q tag to the IP hooks';

/** The rule that dropped, or the policy. */
export function decider(steps: readonly Step[], where: string): string {
  const last = steps.at(-1);
  if (last?.kind === 'rule')
    return `rule ${last.index} of ${last.chain}${last.comment ? ` ("${last.comment}")` : ''} in ${where}`;
  return `the policy of ${where}`;
}

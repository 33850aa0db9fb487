// nftables trace events as the kernel sends them (NFT_MSG_TRACE on netlink group NFNLGRP_NFTRACE,
// for packets with `meta nftrace` set), decoded field by field: nft 1.0.6's `-j monitor trace`
// prints text, not JSON, so virtwall reads the netlink messages itself. Pure: a message in, an
// event out. Attribute numbers and verdict codes are nf_tables.h's and netfilter.h's.
import { attrText, parseAttrs, type Message } from '../netlink/message.js';
import { familyOfNfproto, NFGENMSG_SIZE, NFNL_SUBSYS_NFTABLES } from './nfnetlink.js';
import type { Family } from './objects.js';

const NFT_MSG_TRACE = (NFNL_SUBSYS_NFTABLES << 8) | 17;

const A = {
  TABLE: 1,
  CHAIN: 2,
  RULE_HANDLE: 3,
  TYPE: 4,
  VERDICT: 5,
  ID: 6,
  LL_HEADER: 7,
  NETWORK_HEADER: 8,
  TRANSPORT_HEADER: 9,
  IIF: 10,
  OIF: 12,
  MARK: 14,
  POLICY: 16,
} as const;
const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;

/** Trace types (NFT_TRACETYPE_*): a rule's verdict, a base chain's policy, a return to the caller. */
const TYPES = { 1: 'policy', 2: 'return', 3: 'rule' } as const;
export type TraceType = (typeof TYPES)[keyof typeof TYPES];

/** Verdict codes: NF_DROP, NF_ACCEPT, ..., and nftables' negative ones. */
const VERDICTS: Readonly<Record<number, string>> = {
  0: 'drop',
  1: 'accept',
  2: 'stolen',
  3: 'queue',
  4: 'repeat',
  [-1]: 'continue',
  [-2]: 'break',
  [-3]: 'jump',
  [-4]: 'goto',
  [-5]: 'return',
};

export interface TraceEvent {
  /** The packet's trace id: the same for every event of one packet. */
  id: number;
  family: Family;
  table: string;
  chain: string;
  type: TraceType;
  /** The rule's handle (type `rule`). */
  handle?: number;
  verdict?: string;
  /** The chain a jump or goto goes to. */
  target?: string;
  iif?: number;
  oif?: number;
  mark?: number;
  /** The packet's headers, sent with the first event of each base chain it passes. */
  ll?: Buffer;
  network?: Buffer;
  transport?: Buffer;
}

/** The trace event a message carries, or undefined when it is not one. */
export function parseTraceEvent(m: Message): TraceEvent | undefined {
  if (m.type !== NFT_MSG_TRACE || m.payload.length < NFGENMSG_SIZE) return undefined;
  const family = familyOfNfproto(m.payload.readUInt8(0));
  const a = parseAttrs(m.payload, NFGENMSG_SIZE);
  const u32 = (t: number) => (a.get(t)?.length === 4 ? a.get(t)!.readUInt32BE(0) : undefined);
  const type = TYPES[(u32(A.TYPE) ?? 0) as keyof typeof TYPES];
  const id = u32(A.ID);
  const table = attrText(a.get(A.TABLE));
  const chain = attrText(a.get(A.CHAIN));
  if (!family || !type || id === undefined || table === undefined || chain === undefined) return undefined;
  const e: TraceEvent = { id, family, table, chain, type };
  const handle = a.get(A.RULE_HANDLE);
  if (handle?.length === 8) e.handle = Number(handle.readBigUInt64BE(0));
  const verdict = a.get(A.VERDICT);
  if (verdict) {
    const v = parseAttrs(verdict);
    const code = v.get(NFTA_VERDICT_CODE);
    // NF_DROP with an errno in the upper bits is still a drop
    if (code?.length === 4)
      e.verdict = VERDICTS[code.readInt32BE(0) < 0 ? code.readInt32BE(0) : code.readUInt32BE(0) & 0xff];
    const target = attrText(v.get(NFTA_VERDICT_CHAIN));
    if (target !== undefined) e.target = target;
  }
  // a policy event names the policy in an attribute of its own
  if (type === 'policy' && u32(A.POLICY) !== undefined) e.verdict = VERDICTS[u32(A.POLICY)!];
  for (const [key, t] of [
    ['iif', A.IIF],
    ['oif', A.OIF],
    ['mark', A.MARK],
  ] as const) {
    const n = u32(t);
    if (n !== undefined) e[key] = n;
  }
  for (const [key, t] of [
    ['ll', A.LL_HEADER],
    ['network', A.NETWORK_HEADER],
    ['transport', A.TRANSPORT_HEADER],
  ] as const) {
    const b = a.get(t);
    if (b) e[key] = Buffer.from(b);
  }
  return e;
}

// The parts of a network's firewall as the kernel holds them, recorded when they are applied:
// enough to find each again by value (health) and to remove exactly it (stop, repair). A rule
// is recorded in the form the kernel lists it (read back after loading), so a listing compares
// with the record field by field.
import * as z from '../../util/zod.js';
import type { Statement } from '../../nft/objects.js';
import { XT_RULE } from '../../xtables/schema.js';
import type { TableRule } from './xtables.js';

/** A rule in one of iptables' tables. */
export type XtablesPart = TableRule;

/**
 * A rule in libvirt's nft table (libvirt_network) of that family: chain, body and comment; and
 * where the kernel reported them at start, the rule's handle and the table's (handles name a rule only in
 * the table that numbered it: a table created again numbers its rules from 1 again).
 */
export interface NftPart {
  family: 'ip' | 'ip6';
  chain: string;
  comment: string;
  body: readonly Statement[];
  handle?: number;
  table?: number;
}

/** A tc filter on the bridge (the nftables backend's DHCP checksum fix): the argv deleting it. */
export interface TcPart {
  tc: readonly string[];
}

export type FirewallPart = XtablesPart | NftPart | TcPart;

export const isXtablesPart = (p: FirewallPart): p is XtablesPart => 'tool' in p;
export const isNftPart = (p: FirewallPart): p is NftPart => 'body' in p;
export const isTcPart = (p: FirewallPart): p is TcPart => 'tc' in p;

const WORD = z.string().check(z.maxLength(256));

/**
 * A recorded part as read back from a status file: its deletion runs as root, so a tc part may
 * only delete a filter (`tc filter del dev ...`).
 */
export const FIREWALL_PART = z.union([
  z.strictObject({
    tool: z.enum(['iptables', 'ip6tables']),
    table: z.enum(['filter', 'nat', 'mangle']),
    rule: XT_RULE,
  }),
  z.strictObject({
    family: z.enum(['ip', 'ip6']),
    chain: WORD,
    comment: z.string(),
    body: z.array(z.record(z.string(), z.json())),
    handle: z.optional(z.int().check(z.positive())),
    table: z.optional(z.int().check(z.positive())),
  }),
  z.strictObject({
    tc: z
      .array(WORD)
      .check(
        z.refine(
          (a) => a[0] === 'tc' && a[1] === 'filter' && a[2] === 'del' && a[3] === 'dev',
          'not a tc filter deletion',
        ),
      ),
  }),
]);

/**
 * For each part, the index of the listed object it is (by `same`), or -1: each listed object
 * stands for one part only, so a rule recorded twice needs two copies in the kernel.
 */
export function locate<P, L>(parts: readonly P[], listed: readonly L[], same: (p: P, l: L) => boolean): number[] {
  const used = new Set<number>();
  return parts.map((p) => {
    const at = listed.findIndex((l, i) => !used.has(i) && same(p, l));
    if (at >= 0) used.add(at);
    return at;
  });
}

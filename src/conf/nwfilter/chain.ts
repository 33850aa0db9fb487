// Filter chain names and priorities (virNWFilterIsAllowedChain and chain_priorities).
import { CHAIN_KINDS, type ChainKind } from './types.js';

/** libvirt's MAX_CHAIN_SUFFIX_SIZE: what fits in an ebtables chain name next to the interface. */
export const MAX_CHAIN_NAME = 12;
const VALID_CHAIN_NAME = /^[A-Za-z0-9_.:-]*$/;

/** Filter priorities lie in [-1000, 1000] (NWFILTER_MIN/MAX_FILTER_PRIORITY). */
export const MIN_FILTER_PRIORITY = -1000;
export const MAX_FILTER_PRIORITY = 1000;

/** A chain's priority when the filter gives none; stp has no entry and gets the midpoint, 0. */
const DEFAULT_CHAIN_PRIORITY: Partial<Record<ChainKind, number>> = {
  root: 0,
  mac: -800,
  vlan: -750,
  ipv4: -700,
  ipv6: -600,
  arp: -500,
  rarp: -400,
};

export function defaultChainPriority(kind: ChainKind): number {
  return DEFAULT_CHAIN_PRIORITY[kind] ?? (MIN_FILTER_PRIORITY + MAX_FILTER_PRIORITY) / 2;
}

/**
 * The kind of a chain name: `root` exactly, or a name starting with one of the other kinds;
 * otherwise why the name is not allowed.
 */
export function chainKindOf(chain: string): { kind: ChainKind } | { error: string } {
  if (chain.length > MAX_CHAIN_NAME) return { error: `name of chain is longer than ${MAX_CHAIN_NAME} characters` };
  if (!VALID_CHAIN_NAME.test(chain)) return { error: 'chain name contains invalid characters' };
  if (chain === 'root') return { kind: 'root' };
  const kind = chain.startsWith('root') ? undefined : CHAIN_KINDS.find((k) => chain.startsWith(k));
  if (kind) return { kind };
  const prefixes = CHAIN_KINDS.filter((k) => k !== 'root').join(', ');
  return {
    error: `invalid chain name '${chain}'. Please use a chain name called 'root' or any of the following prefixes: ${prefixes}`,
  };
}

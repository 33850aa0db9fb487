// Whether our tables are owned by the daemon (src/nft/owning-client.ts): decided once at start
// by what the kernel does (OwningNft.open's probe), where the daemon adopts the tables a previous
// run left; and what doctor reports of it.
import { OwningNft } from '../../nft/owning-client.js';
import { TABLE_OWNER, TABLE_PERSIST } from '../../nft/ownership.js';
import { FAMILIES, TABLE } from './model.js';
import { bootId, readKernelStamp, type KernelStamp } from './kernel-stamp.js';

export interface NwfilterTablesClient {
  /** The owning client; none: nft processes, and the daemon heals foreign changes. */
  nft?: OwningNft;
  /** `owner` or why not, as the daemon logs it. */
  ownership: string;
  /** Our tables that exist without ownership (created so by an earlier virtwall or by nft). */
  unowned: string[];
  /** The stamp (kernel-stamp.ts) our tables were adopted at: they hold the model it names. */
  stamped?: KernelStamp;
}

/**
 * The owning client with our tables adopted, where this kernel and libnftables allow it; at the
 * generation `stampFile`'s stamp names, where that is still the ruleset's (nothing changed since).
 */
export async function ownNwfilterTables(stampFile?: string): Promise<NwfilterTablesClient> {
  let stamp: KernelStamp | undefined;
  const nft = OwningNft.open((netns) => {
    stamp = stampFile === undefined ? undefined : readKernelStamp(stampFile, { boot: bootId(), netns: String(netns) });
    return stamp && { tables: stamp.tables.map((family) => ({ family, table: TABLE })), generation: stamp.generation };
  });
  if ('unavailable' in nft) return { ownership: `none: ${nft.unavailable}`, unowned: [] };
  if (nft.adopted) return { nft, ownership: 'owner', unowned: [], stamped: stamp };
  const unowned: string[] = [];
  for (const family of FAMILIES)
    if ((await nft.own(family, TABLE)) === 'not-ownable') unowned.push(`${family} ${TABLE}`);
  return { nft, ownership: 'owner', unowned };
}

export type TableState = 'owned' | 'orphaned' | 'unowned';

/**
 * Our tables' ownership as another process sees it: `owned` by a live socket (the daemon's),
 * `orphaned` (persisting, no owner: the daemon is down), `unowned`; or why this host cannot own
 * tables at all.
 */
export async function nwfilterTableStates(): Promise<{ unavailable: string } | Map<string, TableState>> {
  const nft = OwningNft.open();
  if ('unavailable' in nft) return nft;
  const states = new Map<string, TableState>();
  for (const family of FAMILIES) {
    const flags = await nft.flags(family, TABLE);
    if (flags === undefined) continue;
    states.set(`${family} ${TABLE}`, flags & TABLE_OWNER ? 'owned' : flags & TABLE_PERSIST ? 'orphaned' : 'unowned');
  }
  return states;
}

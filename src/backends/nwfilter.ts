// Choosing the nwfilter technology driver by name: nftables (the default, with its kernel
// capabilities probed) or libvirt's ebiptables layout.
import { join } from 'node:path';
import type { CommandRunner } from '../exec/runner.js';
import type { NftClient } from '../nft/client.js';
import type { NwfilterBackend, NwfilterBackendName } from '../nwfilter/backend.js';
import { EbiptablesBackend } from './ebiptables/backend.js';
import { NftablesBackend } from './nftables/backend.js';

export const DEFAULT_NWFILTER_BACKEND: NwfilterBackendName = 'nftables';

/**
 * `stateDir` (the daemon's run directory) keeps across restarts what the ebiptables backend
 * applied, and what the nftables backend compiled; `nft` is the nftables backend's client
 * (default: nft processes through `runner`).
 */
export async function createNwfilterBackend(
  runner: CommandRunner,
  name: NwfilterBackendName = DEFAULT_NWFILTER_BACKEND,
  opts: { stateDir?: string; nft?: NftClient } = {},
): Promise<NwfilterBackend> {
  if (name === 'nftables')
    return NftablesBackend.create(
      runner,
      { stateFile: opts.stateDir && join(opts.stateDir, 'nwfilter-nftables.json') },
      opts.nft,
    );
  return new EbiptablesBackend(runner, { stateFile: opts.stateDir && join(opts.stateDir, 'nwfilter-ebiptables.json') });
}

// Choosing the nwfilter technology driver by name: nftables (the default, with its kernel
// capabilities probed) or libvirt's ebiptables layout.
import { join } from 'node:path';
import type { CommandRunner } from '../exec/runner.js';
import type { NftClient } from '../nft/client.js';
import type { NwfilterBackend, NwfilterBackendName } from '../nwfilter/backend.js';
import { EbiptablesBackend } from './ebiptables/backend.js';
import { NftablesBackend, type NftablesBackendOptions } from './nftables/backend.js';

export const DEFAULT_NWFILTER_BACKEND: NwfilterBackendName = 'nftables';

/** Where the nftables backend stamps the kernel (kernel-stamp.ts), in the daemon's run directory. */
export const nftablesStampFile = (stateDir: string) => join(stateDir, 'nwfilter-nftables.stamp.json');

/**
 * `stateDir` (the daemon's run directory) keeps across restarts what the ebiptables backend
 * applied, and what the nftables backend compiled; `nft` is the nftables backend's client
 * (default: nft processes through `runner`); `stamp` its kernel stamps (only with tables the
 * daemon owns).
 */
export async function createNwfilterBackend(
  runner: CommandRunner,
  name: NwfilterBackendName = DEFAULT_NWFILTER_BACKEND,
  opts: { stateDir?: string; nft?: NftClient; stamp?: NftablesBackendOptions['stamp'] } = {},
): Promise<NwfilterBackend> {
  if (name === 'nftables')
    return NftablesBackend.create(
      runner,
      { stateFile: opts.stateDir && join(opts.stateDir, 'nwfilter-nftables.json'), stamp: opts.stamp },
      opts.nft,
    );
  return new EbiptablesBackend(runner, { stateFile: opts.stateDir && join(opts.stateDir, 'nwfilter-ebiptables.json') });
}

// Choosing the nwfilter technology driver by name: nftables (the default, with its kernel
// capabilities probed) or libvirt's ebiptables layout.
import type { CommandRunner } from '../exec/runner.js';
import type { NwfilterBackend, NwfilterBackendName } from '../nwfilter/backend.js';
import { EbiptablesBackend } from './ebiptables/backend.js';
import { NftablesBackend } from './nftables/backend.js';

export const DEFAULT_NWFILTER_BACKEND: NwfilterBackendName = 'nftables';

export async function createNwfilterBackend(runner: CommandRunner, name: NwfilterBackendName = DEFAULT_NWFILTER_BACKEND): Promise<NwfilterBackend> {
  return name === 'nftables' ? NftablesBackend.create(runner) : new EbiptablesBackend(runner);
}

// The 'dnsmasq-leases' mechanism: follows the lease records our dnsmasq's hook keeps for a
// network's bridge (`<stateDir>/<bridge>.leases.json`, replaced atomically on every lease
// event) and hands the whole list to the manager each time it changes. The directory is
// watched, because an atomic rename replaces the file a watch on the file would follow.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { leaseFile } from '../network/lifecycle/lease-hook.js';
import { readLeases } from '../network/lifecycle/leases.js';
import type { LearningManager } from './manager.js';

export interface LeaseWatch {
  close(): void;
}

/** Feeds `manager` the leases of `bridge` now and after every change. */
export function watchLeases(
  stateDir: string,
  bridge: string,
  manager: LearningManager,
  onError?: (err: unknown) => void,
): LeaseWatch {
  const file = leaseFile(stateDir, bridge);
  const load = () => {
    try {
      manager.applyLeases(bridge, readLeases(file));
    } catch (err) {
      onError?.(err);
    }
  };
  const watcher: FSWatcher = watch(dirname(file), (_event, name) => {
    if (name === basename(file)) load();
  });
  load();
  return { close: () => watcher.close() };
}

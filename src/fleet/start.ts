// The fleet of one daemon: its etcd client and the sync that follows it, started beside the daemon.
import type { Logger } from 'pino';
import type { FleetConfig } from '../daemon/config.js';
import type { Daemon } from '../daemon/daemon.js';
import type { StateLayout } from '../daemon/layout.js';
import { FleetStore } from './store.js';
import { Fleet } from './sync.js';

export function startFleet(daemon: Daemon, config: FleetConfig, layout: StateLayout, log: Logger): Fleet {
  const fleet = new Fleet(
    daemon,
    new FleetStore(config),
    Fleet.stateFileOf(layout.lib),
    log.child({ fleet: config.hostName }),
  );
  daemon.fleet = fleet;
  fleet.start();
  log.info({ host: config.hostName, endpoints: config.endpoints, prefix: config.prefix }, 'fleet: following etcd');
  return fleet;
}

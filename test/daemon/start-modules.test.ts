// What a daemon start loads: the packages of features it is not configured for, or does not use
// until a request asks, stay unloaded (each costs 30-40 ms of every start): prom-client without
// metrics_listen, dbus-next while the system bus's socket does not exist, libxml2's wasm until an
// RPC asks for validation. Seen from the modules the process loaded (test/support/module-log.mjs);
// the control, a start with metrics_listen set, does load prom-client.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { daemonFixture, kill9, startDaemon } from './process.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const MODULE_LOG = join(import.meta.dirname, '../support/module-log.mjs');
const DEFERRED = ['prom-client', 'dbus-next', 'libxml2-wasm'];

/** The packages under node_modules the daemon started with `conf` loaded until it was ready. */
async function packagesLoaded(t: Parameters<typeof daemonFixture>[0], conf: string): Promise<Set<string>> {
  const { ns, root } = daemonFixture(t, 'sm');
  mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
  writeFileSync(join(root, 'etc/virtwall/virtwall.conf'), conf);
  const log = join(root, 'modules.log');
  writeFileSync(log, '');
  const d = await startDaemon(ns, root, {
    NODE_OPTIONS: `--import ${MODULE_LOG}`,
    VWT_MODULE_LOG: log,
    // a bus address whose socket does not exist: as on a host without D-Bus
    DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(root, 'no-bus')}`,
  });
  await kill9(d);
  return new Set(
    readFileSync(log, 'utf8')
      .split('\n')
      .flatMap((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []),
  );
}

describe('virtwalld start', { skip }, () => {
  it('loads no package of a feature it is not configured for, or does not use before a request', async (t) => {
    const loaded = await packagesLoaded(t, 'nwfilter_backend = "nftables"\n');
    assert.ok(loaded.has('pino'), `the module log sees packages: ${[...loaded].join(' ')}`);
    assert.deepEqual(
      DEFERRED.filter((p) => loaded.has(p)),
      [],
    );
  });

  it('loads prom-client when metrics_listen is set', async (t) => {
    const loaded = await packagesLoaded(t, 'nwfilter_backend = "nftables"\nmetrics_listen = "127.0.0.1:19917"\n');
    assert.ok(loaded.has('prom-client'));
  });
});

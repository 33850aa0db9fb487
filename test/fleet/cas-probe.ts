// Run inside the fleet's etcd namespace by fleet.test.ts: FleetStore.compareAndSwap against the
// real cluster, with a stale revision on purpose (what a host that had not yet seen another's
// write sends). Prints {created, conflict, updated} as JSON.
import type { FleetConfig } from '../../src/daemon/config.js';
import { FleetStore } from '../../src/fleet/store.js';

const config = JSON.parse(process.argv[2]!) as FleetConfig;
const xml = (port: number) =>
  `<filter name='cas-probe' chain='root'><rule action='accept' direction='in' priority='500'><tcp dstportstart='${port}'/></rule></filter>`;
const store = new FleetStore(config);
try {
  const created = await store.compareAndSwap('nwfilter', 'cas-probe', 0, xml(7001));
  let conflict = '';
  try {
    await store.compareAndSwap('nwfilter', 'cas-probe', 0, xml(7002));
  } catch (err) {
    conflict = (err as Error).message;
  }
  const updated = await store.compareAndSwap('nwfilter', 'cas-probe', created, xml(7003));
  console.log(JSON.stringify({ created, conflict, updated }));
} finally {
  store.close();
}

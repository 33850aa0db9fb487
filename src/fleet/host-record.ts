// What each host publishes about itself under PREFIX/hosts/HOST (read-only for the others):
// which networks it runs and starts at boot, its bindings (their XML, so a filter change can be
// checked against every host that uses it), the definitions revision it applied and what of the
// fleet's definitions is not in effect there (drift). Refreshed on every heartbeat.
import * as z from '../util/zod.js';
import { formatFilterBinding } from '../conf/nwfilterbinding/index.js';
import { HOST_NAME } from '../daemon/config.js';
import type { Daemon } from '../daemon/daemon.js';

const HostRecordSchema = z.strictObject({
  host: z.string().check(z.regex(HOST_NAME)),
  joined: z.boolean(),
  lastSeen: z.iso.datetime(),
  revision: z.int().check(z.nonnegative()),
  drift: z.record(z.string(), z.string()),
  networks: z.array(
    z.strictObject({ name: z.string(), active: z.boolean(), autostart: z.boolean(), bridge: z.optional(z.string()) }),
  ),
  bindings: z.array(z.strictObject({ portdev: z.string(), filter: z.string(), xml: z.string() })),
  ports: z.int().check(z.nonnegative()),
});
export type HostRecord = z.output<typeof HostRecordSchema>;

export function hostRecord(
  daemon: Daemon,
  self: Pick<HostRecord, 'host' | 'joined' | 'revision' | 'drift'>,
): HostRecord {
  return {
    ...self,
    lastSeen: new Date().toISOString(),
    networks: daemon.networks
      .list()
      .map((n) => ({ name: n.name, active: n.active, autostart: n.autostart, bridge: n.bridge })),
    bindings: daemon.bindings
      .list()
      .map((b) => ({ portdev: b.portdev, filter: b.filter, xml: formatFilterBinding(b) })),
    ports: daemon.ports.list().length,
  };
}

/** Another host's record; undefined when it does not fit (an older or foreign writer). */
export function parseHostRecord(text: string): HostRecord | undefined {
  try {
    return HostRecordSchema.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
}

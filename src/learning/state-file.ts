// Where the daemon keeps learned addresses between runs: one JSON file, written atomically
// after every change so a crash never loses a lock or a lease nor leaves a torn file. Read back
// through a schema: a corrupt file is set aside (persist.ts) and learning starts afresh.
import * as z from '../util/zod.js';
import { isDeviceName } from '../util/device-name.js';
import { jsonState, readState, writeFileAtomic } from '../util/state-file.js';
import type { SavedLearning } from './manager.js';

export const LearnedAddressSchema = z.strictObject({
  address: z.string(),
  source: z.enum(['arp', 'ip-traffic', 'ipv6-traffic', 'dhcp-snoop', 'dhcpv6-snoop', 'dnsmasq-lease']),
  learnedAt: z.number(),
  expires: z.optional(z.number()),
  server: z.optional(z.string()),
});

const SAVED = z.strictObject({
  version: z.literal(1),
  ports: z.array(
    z.strictObject({
      config: z.looseObject({
        // the port and bridge go into tcpdump's and the lease watch's arguments
        port: z.string().check(z.refine(isDeviceName, 'not a device name')),
        bridge: z.optional(z.string().check(z.refine(isDeviceName, 'not a device name'))),
        mechanism: z.enum(['dnsmasq-leases', 'traffic']),
        needs: z.strictObject({ ipv4: z.boolean(), ipv6: z.boolean() }),
        mode: z.enum(['any', 'dhcp']),
        mac: z.string().check(z.regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/)),
        dhcpServers: z.array(z.string()),
        dhcpServersV6: z.array(z.string()),
      }),
      state: z.strictObject({ ipv4: z.array(LearnedAddressSchema), ipv6: z.array(LearnedAddressSchema) }),
    }),
  ),
}) satisfies z.ZodMiniType<SavedLearning>;

export function saveLearning(file: string, saved: SavedLearning): void {
  writeFileAtomic(file, `${JSON.stringify(saved, null, 2)}\n`, 0o600);
}

/** The saved state; an empty one when the file does not exist yet or was corrupt. */
export function loadLearning(file: string): SavedLearning {
  return readState(file, jsonState(SAVED)) ?? { version: 1, ports: [] };
}

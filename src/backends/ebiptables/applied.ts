// What the ebiptables backend applied, port by port: a digest of the rules it instantiated and the
// port's part of each tool's listing read right afterwards. A reconcile restores a port from
// its parts while the digest still matches what is desired. Kept in a file when given (in the run
// directory: it goes at reboot together with the kernel state and the binding records), so a
// restarted daemon finds intact ports intact instead of rebuilding them as libvirt does. Read
// back through a schema: a corrupt file is set aside (src/util/state-file.ts) and its ports are
// rebuilt from their bindings, as after a reboot.
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import * as z from '../../util/zod.js';
import { isDeviceName } from '../../util/device-name.js';
import { jsonState, readState, writeFileAtomic } from '../../util/state-file.js';
import { XT_RULE } from '../../xtables/schema.js';
import type { PortFilter } from '../../nwfilter/backend.js';
import { dryRunCommands } from '../../plan/transaction.js';
import type { PortPart, Tool } from './listing.js';
import { applyNewRules } from './plan.js';

export interface AppliedPort {
  /** rulesDigest() of what was applied (named `key` in the state file). */
  rulesDigest: string;
  parts: Record<Tool, PortPart>;
}

/** Changes whenever the commands instantiating the port or its MAC check would change. */
export function rulesDigest(p: PortFilter): string {
  const commands = dryRunCommands(applyNewRules(p.portdev, p.instances)).map((c) => c.argv.join(' '));
  return createHash('sha256')
    .update(JSON.stringify([p.macFilter ? p.mac.toLowerCase() : '', commands]))
    .digest('hex')
    .slice(0, 32);
}

const PART = z.strictObject({ chains: z.record(z.string(), z.array(XT_RULE)), links: z.array(XT_RULE) });

/** The file: port device -> what was applied to it. */
const SAVED = z.record(
  z.string().check(z.refine(isDeviceName, 'not a device name')),
  z.pipe(
    z.strictObject({ key: z.string(), parts: z.strictObject({ ebtables: PART, iptables: PART, ip6tables: PART }) }),
    z.transform(({ key, parts }) => ({ rulesDigest: key, parts })),
  ),
) satisfies z.ZodMiniType<Record<string, AppliedPort>>;

export class AppliedPorts {
  private readonly ports: Map<string, AppliedPort>;

  constructor(private readonly file?: string) {
    this.ports = new Map(Object.entries((file && readState(file, jsonState(SAVED))) ?? {}));
  }

  get(portdev: string): AppliedPort | undefined {
    return this.ports.get(portdev);
  }

  names(): string[] {
    return [...this.ports.keys()];
  }

  set(portdev: string, port: AppliedPort): void {
    this.ports.set(portdev, port);
  }

  delete(portdev: string): void {
    this.ports.delete(portdev);
  }

  save(): void {
    if (!this.file) return;
    if (this.ports.size === 0) rmSync(this.file, { force: true });
    else
      writeFileAtomic(
        this.file,
        JSON.stringify(
          Object.fromEntries([...this.ports].map(([n, p]) => [n, { key: p.rulesDigest, parts: p.parts }])),
        ),
        0o600,
      );
  }
}

// What the ebiptables backend applied, port by port: a key of the rules it instantiated and the
// port's part of each tool's listing read right afterwards. A reconcile restores a port from
// its parts while the key still matches what is desired. Kept in a file when given (in the run
// directory: it goes at reboot together with the kernel state and the binding records), so a
// restarted daemon finds intact ports intact instead of rebuilding them as libvirt does.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { z } from 'zod';
import { XT_RULE } from '../../xtables/schema.js';
import { writeFileAtomic } from '../../network/lifecycle/leases.js';
import type { PortFilter } from '../../nwfilter/backend.js';
import { dryRunCommands } from '../../plan/transaction.js';
import type { PortPart, Tool } from './listing.js';
import { applyNewRules } from './plan.js';

export interface AppliedPort {
  key: string;
  parts: Record<Tool, PortPart>;
}

/** Changes whenever the commands instantiating the port or its MAC check would change. */
export function portKey(p: PortFilter): string {
  const commands = dryRunCommands(applyNewRules(p.ifname, p.instances)).map((c) => c.argv.join(' '));
  return createHash('sha256').update(JSON.stringify([p.macFilter ? p.mac.toLowerCase() : '', commands])).digest('hex').slice(0, 32);
}

export class AppliedPorts {
  private readonly ports: Map<string, AppliedPort>;

  constructor(private readonly file?: string) {
    this.ports = new Map(file && existsSync(file) ? readSaved(file) : []);
  }

  get(ifname: string): AppliedPort | undefined {
    return this.ports.get(ifname);
  }

  names(): string[] {
    return [...this.ports.keys()];
  }

  set(ifname: string, port: AppliedPort): void {
    this.ports.set(ifname, port);
  }

  delete(ifname: string): void {
    this.ports.delete(ifname);
  }

  save(): void {
    if (!this.file) return;
    if (this.ports.size === 0) rmSync(this.file, { force: true });
    else writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.ports)), 0o600);
  }
}

const PART = z.strictObject({ chains: z.record(z.string(), z.array(XT_RULE)), links: z.array(XT_RULE) });
const SAVED = z.record(z.string(), z.strictObject({ key: z.string(), parts: z.strictObject({ ebtables: PART, iptables: PART, ip6tables: PART }) }));

/** A damaged file (or one of another version) only costs rebuilding the ports. */
function readSaved(file: string): [string, AppliedPort][] {
  try {
    return Object.entries(SAVED.parse(JSON.parse(readFileSync(file, 'utf8'))));
  } catch {
    return [];
  }
}

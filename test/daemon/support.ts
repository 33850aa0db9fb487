// A daemon over a temporary root with a fake runner and a recording fake nwfilter backend:
// the domain layer tested by value, without the kernel.
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { daemonRoot } from './process.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { daemonConfig } from '../../src/daemon/config.js';
import { stateLayout } from '../../src/daemon/layout.js';
import { FakeRunner, type FakeAnswer } from '../../src/exec/fake.js';
import type { NwfilterBackend, PortChange, PortFilter, ReconcileReport } from '../../src/nwfilter/backend.js';

export class RecordingBackend implements NwfilterBackend {
  readonly name = 'nftables' as const;
  readonly applied: PortChange[] = [];
  readonly reconciled: PortFilter[][] = [];
  /** The kernel as this fake sees it: port device -> what was set. */
  readonly kernel = new Map<string, PortFilter>();

  async apply(change: PortChange): Promise<void> {
    this.applied.push(change);
    for (const p of change.set) this.kernel.set(p.portdev, p);
    for (const d of change.remove) this.kernel.delete(d);
  }

  async reconcile(desired: readonly PortFilter[]): Promise<ReconcileReport> {
    this.reconciled.push([...desired]);
    const removed = [...this.kernel.keys()].filter((d) => !desired.some((p) => p.portdev === d));
    this.kernel.clear();
    for (const p of desired) this.kernel.set(p.portdev, p);
    return { repaired: [], removed };
  }
}

export function tempRoot(): { root: string; cleanup: () => void } {
  const root = daemonRoot();
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Answers like an empty host: no links, no routes, dnsmasq 2.89. */
export function emptyHostAnswer(line: string): FakeAnswer | undefined {
  if (line.startsWith('dnsmasq --version')) return { stdout: 'Dnsmasq version 2.89\n' };
  if (line.startsWith('ip link show')) return { status: 1 };
  if (line.startsWith('ip -j')) return { stdout: '[]' };
  if (line.startsWith('sysctl -n')) return { stdout: '0\n' };
  // no table exists on an empty host
  if (line.startsWith('nft -j list table')) return { status: 1, stderr: 'Error: No such file or directory\n' };
  return undefined;
}

export const emptyHost = () => new FakeRunner(emptyHostAnswer);

export async function openDaemon(root: string, backend = new RecordingBackend(), runner = emptyHost()) {
  const daemon = await Daemon.open({
    layout: stateLayout(root),
    config: daemonConfig(new Map()),
    runner,
    backend,
    log: pino({ level: 'silent' }),
  });
  return { daemon, backend, runner };
}

export const bindingXml = (portdev: string, filter: string, mac = '52:54:00:00:00:01', params = '') => `<filterbinding>
  <owner><name>guest</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner>
  <portdev name='${portdev}'/>
  <mac address='${mac}'/>
  <filterref filter='${filter}'>${params}</filterref>
</filterbinding>`;

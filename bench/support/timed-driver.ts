// The network driver in the bench's own process, its time taken apart: every command it runs
// and every kernel operation (netlink, /proc/sys) reports how long it took to `note`, under the
// name the caller gives it. The state lives on tmpfs, as a host's /run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DiagnosticList } from '../../src/errors.js';
import type { CommandRunner } from '../../src/exec/runner.js';
import { parseDnsmasqVersion } from '../../src/network/dnsmasq/config.js';
import { NetworkDriver } from '../../src/network/lifecycle/driver.js';
import { writeLeaseHookScript } from '../../src/network/lifecycle/lease-hook.js';

const since = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

export interface TimedNames {
  /** A command's name in the notes. */
  run(argv: readonly string[]): string;
  /** A kernel operation's name in the notes. */
  kernel(op: string): string;
}

export function timedNetworkDriver(
  inner: CommandRunner,
  note: (what: string, ms: number) => void,
  names: TimedNames,
  tag: string,
): NetworkDriver {
  const runner: CommandRunner = {
    netns: inner.netns,
    async run(argv, input, env) {
      const t0 = process.hrtime.bigint();
      try {
        return await inner.run(argv, input, env);
      } finally {
        note(names.run(argv), since(t0));
      }
    },
  };
  const stateDir = mkdtempSync(join('/dev/shm', `virtwall-bench-${tag}-`));
  process.on('exit', () => rmSync(stateDir, { recursive: true, force: true }));
  const driver = new NetworkDriver({
    runner,
    stateDir,
    firewallBackend: 'nftables',
    leaseHook: writeLeaseHookScript(stateDir),
    dnsmasqCaps: async () => parseDnsmasqVersion(spawnSync('dnsmasq', ['--version'], { encoding: 'utf8' }).stdout),
    diag: new DiagnosticList(),
  });
  // the kernel operations, timed through the driver's private member
  const d = driver as unknown as { kernel: Record<string, (...a: unknown[]) => Promise<unknown>> };
  const kernel = d.kernel;
  d.kernel = new Proxy(kernel, {
    get: (k, op: string) =>
      typeof k[op] === 'function'
        ? async (...a: unknown[]) => {
            const t0 = process.hrtime.bigint();
            try {
              return await k[op]!.apply(k, a);
            } finally {
              note(names.kernel(op), since(t0));
            }
          }
        : k[op],
  });
  return driver;
}

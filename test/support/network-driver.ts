// A NetworkDriver as the kernel tests use it: the installed dnsmasq's capabilities, diagnostics
// kept, and every network it still runs stopped (its retired bridges deleted) when the test ends,
// also on failure.
import { spawnSync } from 'node:child_process';
import { DiagnosticList } from '../../src/errors.js';
import type { CommandRunner } from '../../src/exec/runner.js';
import { parseDnsmasqVersion } from '../../src/network/dnsmasq/config.js';
import { NetworkDriver, type NetworkDriverOptions } from '../../src/network/lifecycle/driver.js';

/** The installed dnsmasq's capabilities, asked once per test process. */
export const dnsmasqCaps = (() => {
  let caps: ReturnType<typeof parseDnsmasqVersion> | undefined;
  return async () => {
    caps ??= parseDnsmasqVersion(spawnSync('dnsmasq', ['--version'], { encoding: 'utf8' }).stdout ?? '');
    return caps;
  };
})();

export function testNetworkDriver(
  t: { after: (f: () => Promise<void>) => void },
  options: { runner: CommandRunner; stateDir: string } & Partial<NetworkDriverOptions>,
): NetworkDriver {
  const driver = new NetworkDriver({
    firewallBackend: 'nftables',
    dnsmasqCaps,
    diag: new DiagnosticList(),
    ...options,
  });
  t.after(async () => {
    for (const s of driver.active()) await driver.stop(s.name).catch(() => undefined);
    await driver.settle();
  });
  return driver;
}

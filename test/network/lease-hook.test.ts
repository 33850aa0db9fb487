// The lease hook script dnsmasq runs: dnsmasq's start waits for its `init` answer, so a network
// with no lease records gets the empty database from the shell, without starting the CLI; any
// other call (and init with records) goes to the CLI. The CLI is replaced here by commands
// that show whether they ran.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leaseFile, writeLeaseHookScript } from '../../src/network/lifecycle/lease-hook.js';

const dir = mkdtempSync(join(tmpdir(), 'vwt-hook-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function hook(command: string[], args: string[], env: Record<string, string>) {
  const script = writeLeaseHookScript(dir, command);
  const r = spawnSync(script, args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
  return { status: r.status, stdout: r.stdout };
}

describe('lease hook script', () => {
  it('answers init with an empty database when the bridge has no lease records, without the CLI', () => {
    // /bin/false fails wherever it is run
    assert.deepEqual(hook(['/bin/false'], ['init'], { VIR_BRIDGE_NAME: 'vwbr3' }), { status: 0, stdout: '' });
    writeFileSync(leaseFile(dir, 'vwbr3'), '');
    assert.deepEqual(hook(['/bin/false'], ['init'], { VIR_BRIDGE_NAME: 'vwbr3' }), { status: 0, stdout: '' });
  });

  it('hands init to the CLI when there are records, and every other event', () => {
    writeFileSync(leaseFile(dir, 'vwbr4'), '[]\n');
    assert.deepEqual(hook(['/bin/echo'], ['init'], { VIR_BRIDGE_NAME: 'vwbr4' }), {
      status: 0,
      stdout: `lease-hook --state-dir ${dir} init\n`,
    });
    // without VIR_BRIDGE_NAME the CLI picks DNSMASQ_INTERFACE's records
    assert.deepEqual(hook(['/bin/echo'], ['init'], { DNSMASQ_INTERFACE: 'vwbr4' }), {
      status: 0,
      stdout: `lease-hook --state-dir ${dir} init\n`,
    });
    assert.deepEqual(hook(['/bin/echo'], ['add', '52:54:00:00:00:01', '10.0.0.5'], { VIR_BRIDGE_NAME: 'vwbr3' }), {
      status: 0,
      stdout: `lease-hook --state-dir ${dir} add 52:54:00:00:00:01 10.0.0.5\n`,
    });
  });

  it('prints the live records at init through the real CLI', () => {
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    writeFileSync(
      leaseFile(dir, 'vwbr5'),
      JSON.stringify([{ expiryTime: expiry, macAddress: '52:54:00:00:00:05', ipAddress: '10.0.5.9', hostname: 'g5' }]),
    );
    const script = writeLeaseHookScript(dir);
    const r = spawnSync(script, ['init'], { encoding: 'utf8', env: { ...process.env, VIR_BRIDGE_NAME: 'vwbr5' } });
    assert.equal(r.stdout, `${expiry} 52:54:00:00:00:05 10.0.5.9 g5 *\n`, r.stderr);
  });
});

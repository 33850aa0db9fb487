// A network start costs the same however many networks run (issue 15 target 2), on a real kernel
// in a namespace this test creates: with networks running, a start lists libvirt's chains and the
// skeleton's jumps, never a whole table (every running network's rules), and reads the rules it
// added from a scratch table holding only them (their handles from the kernel's events, not from
// nft's echo, which fetches every set element of every table); what it records is what the
// kernel lists.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseNetwork } from '../../src/conf/network/parse.js';
import { DiagnosticList } from '../../src/errors.js';
import { SystemRunner, type CommandRunner } from '../../src/exec/runner.js';
import { renderCommandLine } from '../../src/plan/command.js';
import { parseDnsmasqVersion } from '../../src/network/dnsmasq/config.js';
import { NetworkDriver } from '../../src/network/lifecycle/driver.js';
import { firewallParts } from '../../src/network/lifecycle/firewall-health.js';
import { isNftPart } from '../../src/network/firewall/parts.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';

/** A NAT network without DNS or DHCP (no dnsmasq: only the firewall's cost is looked at). */
const xml = (i: number) => `<network>
  <name>sc${i}</name>
  <forward mode='nat'/>
  <bridge name='vwsc${i}' stp='off'/>
  <dns enable='no'/>
  <ip address='10.77.${i}.1' prefix='24'/>
</network>`;

describe('network start cost', { skip, concurrency: false }, () => {
  let lab: NetnsLab;
  let stateDir: string;
  let driver: NetworkDriver;
  const calls: string[] = [];
  let runner: CommandRunner;

  before(() => {
    lab = new NetnsLab();
    const inner = new SystemRunner({ netns: lab.netns('h') });
    runner = {
      netns: inner.netns,
      run(argv, input, env) {
        calls.push(renderCommandLine(argv));
        return inner.run(argv, input, env);
      },
    };
    stateDir = mkdtempSync(join(tmpdir(), 'vwt-start-cost-'));
    driver = new NetworkDriver({
      runner,
      stateDir,
      firewallBackend: 'nftables',
      dnsmasqCaps: async () =>
        parseDnsmasqVersion(spawnSync('dnsmasq', ['--version'], { encoding: 'utf8' }).stdout ?? ''),
      diag: new DiagnosticList(),
    });
  });
  after(async () => {
    for (const s of driver.active()) await driver.stop(s.name).catch(() => undefined);
    await driver.settle();
    lab.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('with networks running, a start lists no whole table and runs the same commands as the one before', async () => {
    const perStart: string[][] = [];
    for (let i = 1; i <= 4; i++) {
      calls.length = 0;
      await driver.start(parseNetwork(xml(i)));
      // the network's own names aside, starts must not differ
      perStart.push(calls.map((c) => c.replaceAll(`vwsc${i}`, 'BRIDGE').replaceAll(`10.77.${i}.`, '10.77.N.')));
    }
    for (const [i, c] of perStart.entries()) {
      if (i === 0) continue;
      assert.deepEqual(
        c.filter((l) => l.startsWith('nft ') && l.includes(' list table ')),
        ['nft -j -t list table ip libvirt_network_bodies'],
        `start ${i + 1} listed a whole table other than the scratch table of its new rules`,
      );
      assert.deepEqual(
        c.filter((l) => l.startsWith('nft ') && / -e | --echo /.test(` ${l} `)),
        [],
        'nft echoed (it lists every set element of every table first)',
      );
    }
    assert.deepEqual(perStart[3], perStart[2]);
    assert.deepEqual(perStart[2], perStart[1]);
    // every start's record is found by value in the kernel's listing: the scratch table's is the kernel's form
    for (const s of driver.active()) {
      assert.ok(s.firewallRemoval.filter(isNftPart).length > 0);
      const parts = await firewallParts(s.firewallRemoval, runner);
      assert.deepEqual(parts.missing, [], `${s.name}: recorded rules not in the kernel`);
    }
  });

  it('running networks are read without parsing (or copying) their unchanged records again; a changed record is read anew', async () => {
    const names = driver.active().map((s) => s.name);
    assert.equal(names.length, 4);
    const parse = JSON.parse;
    let parses = 0;
    JSON.parse = (...a: Parameters<typeof parse>) => {
      parses++;
      return parse(...a);
    };
    let changed: ReturnType<NetworkDriver['active']>;
    try {
      driver.active();
      driver.status('sc1');
      assert.equal(parses, 0, 'unchanged records were parsed again');
      // records are shared between readers: one changing a record it got fails, changing nothing
      assert.throws(() => {
        driver.active()[0]!.startedAt = 0;
      }, TypeError);
      assert.throws(() => driver.status('sc1')!.firewallRemoval.push({ tc: [] }), TypeError);
      assert.notEqual(driver.status('sc1')!.startedAt, 0);
      assert.equal(driver.status('sc1')!.firewallRemoval.length, driver.active()[0]!.firewallRemoval.length);
      const file = join(stateDir, 'sc2.status.json');
      writeFileSync(file, readFileSync(file, 'utf8').replace(/"startedAt": \d+/, '"startedAt": 7'));
      changed = driver.active();
      assert.equal(parses, 1);
    } finally {
      JSON.parse = parse;
    }
    assert.equal(changed.find((s) => s.name === 'sc2')?.startedAt, 7);
    assert.deepEqual(
      changed.map((s) => s.name),
      names,
    );
  });

  it('dnsmasq is started itself (no `env` process), with the bridge for its lease hook in its environment', async () => {
    calls.length = 0;
    const def = parseNetwork(xml(5).replace("<dns enable='no'/>", ''));
    const status = await driver.start(def);
    assert.ok(status.dnsmasqPid);
    assert.deepEqual(
      calls.filter((c) => /^(env|dnsmasq) /.test(c)).map((c) => c.split(' ')[0]),
      ['dnsmasq'],
    );
    const environ = readFileSync(`/proc/${status.dnsmasqPid}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes('VIR_BRIDGE_NAME=vwsc5'), environ.join(' '));
    await driver.stop(def.name);
  });

  it('stops remove every rule of the networks: libvirt_network holds none afterwards', async () => {
    for (const s of driver.active()) await driver.stop(s.name);
    const r = await runner.run(['nft', '-j', 'list', 'ruleset']);
    assert.equal(r.status, 0);
    assert.ok(!r.stdout.includes('"rule"'), r.stdout);
  });
});

// A network's stop on a real kernel (nftables firewall), in a namespace this test creates: the
// rules go by the handles the kernel reported at start, without listing libvirt's table, while that table
// is the one that numbered them; a table created again since (a flushed ruleset, then another
// network's start) numbers its rules from 1 again, and the stop then finds its rules by value
// and removes no other network's rule; a record without handles (an older virtwall's) stops too.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNetwork } from '../../src/conf/network/parse.js';
import { SystemRunner } from '../../src/exec/runner.js';
import type { CommandRunner } from '../../src/exec/runner.js';
import { isNftPart } from '../../src/network/firewall/parts.js';
import { parseTableHandle } from '../../src/nft/listing.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';
import { testNetworkDriver } from '../support/network-driver.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';

const def = (name: string, n: number) =>
  parseNetwork(`<network><name>${name}</name><forward mode='nat'/><bridge name='vwbr${n}' stp='off' delay='0'/>
<ip address='192.168.${100 + n}.1' prefix='24'/></network>`);

function rig(t: { after: (f: () => Promise<void> | void) => void }) {
  const lab = new NetnsLab();
  const ns = lab.netns('h');
  const stateDir = mkdtempSync(join(tmpdir(), 'vwt-handles-'));
  const inner = new SystemRunner({ netns: ns });
  const calls: string[] = [];
  const runner: CommandRunner = {
    netns: inner.netns,
    run: (argv, input, env) => {
      calls.push(argv.join(' '));
      return inner.run(argv, input, env);
    },
  };
  const driver = testNetworkDriver(t, { runner, stateDir });
  t.after(() => {
    lab.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
  });
  /** The table's rules as nft lists them (no counters move: no traffic in the namespace); '' once it is gone. */
  const table = () => lab.exec(ns, ['nft', 'list', 'table', 'ip', 'libvirt_network'], false).stdout;
  const listings = () => calls.filter((c) => c.startsWith('nft -j list table ')).length;
  return { lab, ns, stateDir, driver, calls, table, listings };
}

describe('network stop by recorded handles (nftables, kernel)', { skip }, () => {
  it('deletes the rules by the handles reported at start, without listing the table', async (t) => {
    const r = rig(t);
    // another network keeps libvirt's table (the last stop removes it, which lists it)
    await r.driver.start(def('keep', 9));
    await r.driver.start(def('a', 1));
    const parts = r.driver.status('a')!.firewallRemoval.filter(isNftPart);
    assert.ok(parts.length > 0);
    for (const p of parts) assert.ok(p.handle !== undefined && p.table !== undefined, JSON.stringify(p));
    // the table's handle as the daemon asks it (GETTABLE) and as `nft -j list tables` shows it
    const tables = r.lab.exec(r.ns, ['nft', '-j', 'list', 'tables', 'ip']).stdout;
    assert.equal(parts[0]!.table, parseTableHandle(tables, 'libvirt_network'));
    assert.equal(parseTableHandle(tables, 'no_such_table'), undefined);
    // each recorded handle is the kernel's handle of that rule
    const listed = r.lab.exec(r.ns, ['nft', '-a', 'list', 'table', 'ip', 'libvirt_network']).stdout;
    for (const p of parts) assert.match(listed, new RegExp(`# handle ${p.handle}\\n`));
    assert.match(r.table(), /vwbr1/);
    const before = r.listings();
    await r.driver.stop('a');
    assert.equal(r.listings(), before, 'stop listed the table');
    assert.doesNotMatch(r.table(), /vwbr1/);
    assert.match(r.table(), /vwbr9/);
  });

  it('a table created again since the start: found by value, no other network loses a rule', async (t) => {
    const r = rig(t);
    await r.driver.start(def('a', 1));
    const stale = r.driver.status('a')!.firewallRemoval.filter(isNftPart);
    r.lab.exec(r.ns, ['nft', 'flush', 'ruleset']);
    // another network starts before any heal: the table is created again, its rules numbered from 1
    await r.driver.start(def('b', 2));
    const b = r.driver.status('b')!.firewallRemoval.filter(isNftPart);
    assert.notEqual(b[0]!.table, stale[0]!.table);
    assert.ok(
      b.some((p) => stale.some((s) => s.handle === p.handle)),
      'the new table reused no handle of the stopped network: the test shows nothing',
    );
    const rules = r.table();
    const before = r.listings();
    await r.driver.stop('a');
    assert.ok(r.listings() > before, 'stop did not look for its rules by value');
    assert.equal(r.table(), rules, "the other network's rules changed");
    await r.driver.stop('b');
    assert.doesNotMatch(r.table(), /vwbr2/);
  });

  it('starts and stops leave no descriptor open (the table handle is asked on a socket of its own each time)', async (t) => {
    const r = rig(t);
    await r.driver.start(def('keep', 9));
    const fds = () => readdirSync('/proc/self/fd').length;
    const cycle = async () => {
      await r.driver.start(def('a', 1));
      await r.driver.stop('a');
      await r.driver.settle();
    };
    await cycle();
    const after1 = fds();
    for (let i = 0; i < 3; i++) await cycle();
    assert.equal(fds(), after1);
  });

  it('a record without handles (written by an older virtwall) stops by listing', async (t) => {
    const r = rig(t);
    await r.driver.start(def('keep', 9));
    await r.driver.start(def('a', 1));
    const file = join(r.stateDir, 'a.status.json');
    const record = JSON.parse(readFileSync(file, 'utf8')) as { firewallRemoval: Record<string, unknown>[] };
    for (const p of record.firewallRemoval) {
      delete p['handle'];
      delete p['table'];
    }
    writeFileSync(file, JSON.stringify(record));
    const before = r.listings();
    await r.driver.stop('a');
    assert.ok(r.listings() > before);
    assert.doesNotMatch(r.table(), /vwbr1/);
    assert.match(r.table(), /vwbr9/);
  });
});

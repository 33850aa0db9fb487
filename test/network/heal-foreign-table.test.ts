// A network's firewall heal reads only the network's own tables, on a real kernel in a namespace
// this test creates beside a big foreign table (a set of 50,000 elements, as the nwfilter tables
// of some 6,000 ports hold): nft 1.0.6 fetches every element of every set for a listing of the
// whole ruleset or of all tables, and for any command with --echo, which at 10,000 ports made a
// heal take 0.5 s. Each nft command the start and the heal run is measured by the memory nft
// needed (its peak RSS, kept by the kernel): a command that read the foreign table needed about
// as much as `nft list ruleset`, one that did not about as much as listing the network's table.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNetwork } from '../../src/conf/network/parse.js';
import { SystemRunner, type CommandRunner } from '../../src/exec/runner.js';
import { firewallParts } from '../../src/network/lifecycle/firewall-health.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';
import { testNetworkDriver } from '../support/network-driver.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const ELEMENTS = 50_000;

/** Runs argv[2:] and writes the peak RSS (KiB) of it to argv[1]; stdin, stdout, stderr are passed on. */
const MEASURED = `import resource, subprocess, sys
rc = subprocess.run(sys.argv[2:]).returncode
open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc)`;

const def = parseNetwork(`<network><name>hf</name><forward mode='nat'/><bridge name='vwhf0' stp='off'/>
<dns enable='no'/><ip address='10.78.0.1' prefix='24'/></network>`);

it("a network's heal reads no foreign table (nft commands whose memory a big foreign set does not raise)", {
  skip,
}, async (t) => {
  const lab = new NetnsLab();
  const ns = lab.netns('h');
  const dir = mkdtempSync(join(tmpdir(), 'vwt-heal-foreign-'));
  t.after(() => {
    lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  const mac = (i: number) =>
    `02:00:00:${[i >> 16, i >> 8, i].map((b) => (b & 255).toString(16).padStart(2, '0')).join(':')}`;
  const elements = Array.from({ length: ELEMENTS }, (_, i) => mac(i)).join(', ');
  lab.exec(
    ns,
    ['nft', '-f', '-'],
    true,
    `table bridge foreign {\n set macs {\n type ether_addr\n elements = { ${elements} }\n }\n}\n`,
  );

  const inner = new SystemRunner({ netns: ns });
  const calls: { argv: string; kib: number }[] = [];
  let n = 0;
  const runner: CommandRunner = {
    netns: inner.netns,
    async run(argv, input, env) {
      if (argv[0] !== 'nft') return inner.run(argv, input, env);
      const out = join(dir, `rss${n++}`);
      const r = await inner.run(['python3', '-c', MEASURED, out, ...argv], input, env);
      calls.push({ argv: argv.join(' ').slice(0, 120), kib: Number(readFileSync(out, 'utf8')) });
      return r;
    },
  };
  const driver = testNetworkDriver(t, { runner, stateDir: dir });
  const measure = async (argv: string[]) => {
    await runner.run(argv);
    return calls.pop()!.kib;
  };

  await driver.start(def);
  const started = calls.splice(0);
  // what a read of the foreign table costs, and what a read of the network's own table costs
  const whole = await measure(['nft', '-j', 'list', 'ruleset']);
  const own = await measure(['nft', '-j', 'list', 'table', 'ip', 'libvirt_network']);
  assert.ok(whole - own > 10_000, `the foreign set weighs ${whole - own} KiB on a full read: too little to tell`);
  const limit = (own + whole) / 2;

  // what `nft flush ruleset` does to the network (the foreign table stays: it stands for ours, which are owned)
  lab.exec(ns, ['nft', 'delete', 'table', 'ip', 'libvirt_network']);
  lab.exec(ns, ['nft', 'delete', 'table', 'ip6', 'libvirt_network']);
  const repairs = await driver.healFirewall();
  const healed = calls.splice(0);
  assert.deepEqual(
    repairs.map((r) => [r.target, r.error]),
    [['hf', undefined]],
  );
  assert.deepEqual((await firewallParts(driver.status('hf')!.firewallRemoval, inner)).missing, []);

  for (const [what, list] of [
    ['heal', healed],
    ['start', started],
  ] as const) {
    assert.ok(list.length > 0, `${what} ran no nft`);
    assert.deepEqual(
      list.filter((c) => c.kib > limit),
      [],
      `${what}: nft commands that read the foreign table (a full read: ${whole} KiB, the network's table: ${own} KiB)`,
    );
  }
});

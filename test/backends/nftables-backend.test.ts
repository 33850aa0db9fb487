// The nftables backend against a scripted runner: one script per change, changes serialised,
// and a refused transaction leaving the backend at the state the kernel still holds.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NftablesBackend } from '../../src/backends/nftables/backend.js';
import type { CommandResult, CommandRunner } from '../../src/exec/runner.js';
import type { PortFilter } from '../../src/nwfilter/backend.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { MapFilterSource } from '../../src/nwfilter/source.js';
import { loadStockFilters } from '../../src/conf/nwfilter/stock.js';

const stock = new MapFilterSource(loadStockFilters().values());

function port(n: number): PortFilter {
  const mac = `52:54:00:00:00:0${n}`;
  const binding = { portdev: `vnet${n}`, mac, filter: 'clean-traffic', params: new Map([['IP', [`10.0.0.${n}`]]]) };
  return { ifname: binding.portdev, mac, filter: 'clean-traffic', instances: instantiateBinding(binding, stock) };
}

/** Answers `nft -j list table` with "no such table" and records each `nft -f` script. */
class ScriptRunner implements CommandRunner {
  readonly scripts: string[] = [];
  refuseNext = false;

  async run(argv: readonly string[]): Promise<CommandResult> {
    if (argv.includes('list')) return { status: 1, stdout: '', stderr: 'No such file or directory' };
    this.scripts.push(readFileSync(argv[argv.length - 1]!, 'utf8'));
    await new Promise((r) => setTimeout(r, 5));
    const refused = this.refuseNext;
    this.refuseNext = false;
    return refused ? { status: 1, stdout: '', stderr: 'Error: Could not process rule' } : { status: 0, stdout: '', stderr: '' };
  }
}

const verbs = (script: string) => [...new Set(script.trim().split('\n').map((l) => l.split(' ').slice(0, 2).join(' ')))];

describe('nftables backend', () => {
  it('applies concurrent changes one after the other: new chains first, then one switch', async () => {
    const runner = new ScriptRunner();
    const backend = new NftablesBackend(runner);
    await Promise.all([backend.apply({ set: [port(1)], remove: [] }), backend.apply({ set: [port(2)], remove: [] })]);
    assert.equal(runner.scripts.length, 3);
    assert.match(runner.scripts[0]!, /^add table bridge virtwall_nwf\n/);
    assert.deepEqual(verbs(runner.scripts[0]!), ['add table', 'add map', 'add set', 'add chain', 'add rule'], 'first only what no port reaches yet');
    assert.deepEqual(verbs(runner.scripts[1]!), ['add element'], 'then the switch');
    assert.deepEqual(verbs(runner.scripts[2]!), ['add element'], 'the second port only adds elements to what the first built');
  });

  it('keeps the old state when the kernel refuses a transaction', async () => {
    const runner = new ScriptRunner();
    const backend = new NftablesBackend(runner);
    await backend.apply({ set: [port(1)], remove: [] });
    runner.refuseNext = true;
    await assert.rejects(backend.apply({ set: [port(2)], remove: [] }), /nft -f failed.*Could not process rule/);
    await backend.apply({ set: [port(3)], remove: [] });
    const last = runner.scripts.at(-1)!;
    assert.doesNotMatch(last, /vnet2/, 'the refused port is not assumed to be in place');
    assert.match(last, /"vnet3"/);
  });
});

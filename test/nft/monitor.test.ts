// run-tests: alone (times how soon a foreign change is reported: within 1 s)
// Our own ruleset changes wake no heal, everyone else's do, as soon as nft monitor reports them:
// a real `nft monitor` in a namespace, changes loaded through our runner (the nwfilter backend's
// nft client) and by another process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SystemRunner } from '../../src/exec/runner.js';
import { NftCli } from '../../src/nft/client.js';
import { counter, verdict } from '../../src/nft/expr.js';
import { foreignTransactions } from '../../src/nft/monitor.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';
import { waitFor } from '../../src/util/wait-for.js';
import { setTimeout as sleep } from 'node:timers/promises';

const skip = canUseNetns() ? false : 'needs root and network namespaces';

describe('nft monitor: own and foreign transactions', { skip }, () => {
  it('reports every foreign transaction at once and none of ours', async (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const ns = lab.netns('mon');
    const foreign: number[] = [];
    const monitor = lab.spawn(ns, ['nft', 'monitor']);
    monitor.stdout!.setEncoding('utf8').on(
      'data',
      foreignTransactions(() => foreign.push(Date.now())),
    );
    // the monitor is listening once it reports a change made after it started
    let probes = 0;
    await waitFor(
      () => {
        if (foreign.length > 0) return true;
        lab.exec(ns, ['nft', `add table inet vwt_probe${probes++}`]);
        return false;
      },
      { what: 'nft monitor to report a change', interval: 100 },
    );
    foreign.length = 0;

    const nft = new NftCli(new SystemRunner({ netns: ns }));
    const chain = { family: 'bridge', name: 'c' } as const;
    await nft.apply(
      [
        { verb: 'add', table: 'bridge' },
        { verb: 'add', chain },
        { verb: 'add', chain, rule: { statements: [counter, verdict('accept')], comment: 'ours' } },
      ],
      'vwt_own',
    );
    for (let i = 0; i < 5; i++)
      await nft.apply(
        [{ verb: 'add', set: { family: 'bridge', name: `s${i}`, kind: 'set', decl: { key: { type: 'ifname' } } } }],
        'vwt_own',
      );
    // a foreign change is reported within milliseconds (below): half a second without one
    await sleep(500);
    assert.deepEqual(foreign, [], 'our own transactions are not foreign');

    const before = Date.now();
    lab.exec(ns, ['nft', 'flush', 'chain', 'bridge', 'vwt_own', 'c']);
    await waitFor(() => foreign.length > 0, { what: 'the foreign change reported', interval: 20 });
    assert.equal(foreign.length, 1, 'a foreign change is reported once');
    assert.ok(foreign[0]! - before < 1000, `reported after ${foreign[0]! - before} ms`);
  });
});

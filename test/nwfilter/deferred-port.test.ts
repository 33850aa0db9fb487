// A deferred port's rule trees are held weakly: a backend keeps the port object as long as the
// port is bound, and at 10,000 ports the trees it needed only to compile were a third of the heap.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { deferredPortFilter, type PortFilter } from '../../src/nwfilter/backend.js';
import type { RuleInstance } from '../../src/nwfilter/instantiate.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('deferredPortFilter', () => {
  it('instantiates once while the instances are in use, and lets the collector take them after', async () => {
    let instantiated = 0;
    const port: PortFilter = deferredPortFilter(
      { portdev: 'vnet0', mac: '52:54:00:00:00:01', filter: 'clean-traffic', inputsDigest: 'd' },
      () => {
        instantiated++;
        return [{ path: ['clean-traffic'] } as unknown as RuleInstance];
      },
    );
    let held: readonly RuleInstance[] | undefined = port.instances;
    assert.equal(port.instances, held, 'the same instances while someone holds them');
    assert.equal(instantiated, 1);
    held = undefined;
    // a WeakRef read in this turn keeps its target until the turn ends
    await new Promise((r) => setImmediate(r));
    gc();
    assert.equal(port.instances.length, 1, 'read again: instantiated again');
    assert.equal(instantiated, 2, 'the first instances were collected, not kept by the port');
  });
  it('ports with the same inputs digest share the instances while they are held', () => {
    let instantiated = 0;
    const instantiate = () => {
      instantiated++;
      return [{ path: ['clean-traffic'] } as unknown as RuleInstance];
    };
    const make = (digest: string) =>
      deferredPortFilter(
        { portdev: 'vnet0', mac: '52:54:00:00:00:01', filter: 'f', inputsDigest: digest },
        instantiate,
      );
    const held = make('shared').instances;
    assert.equal(make('shared').instances, held, 'a port made again for the same inputs takes them');
    assert.equal(instantiated, 1);
    assert.notEqual(make('other').instances, held, 'another digest instantiates');
    assert.equal(instantiated, 2);
  });
});

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { SerialQueue } from '../../src/util/serial-queue.js';

it('runs operations one at a time in call order; a failure reaches its caller only', async () => {
  const q = new SerialQueue();
  const log: string[] = [];
  const op = (name: string, ms: number) => async () => {
    log.push(`${name} start`);
    await new Promise((r) => setTimeout(r, ms));
    log.push(`${name} end`);
    return name;
  };
  const a = q.run(op('a', 20));
  const b = q.run(() => {
    log.push('b');
    throw new Error('b failed');
  });
  const c = q.run(op('c', 1));
  assert.equal(await a, 'a');
  await assert.rejects(b, /b failed/);
  assert.equal(await c, 'c');
  assert.deepEqual(log, ['a start', 'a end', 'b', 'c start', 'c end']);
});

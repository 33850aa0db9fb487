import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { QueuedTask } from '../../src/util/queued-task.js';
import { SerialQueue } from '../../src/util/serial-queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('QueuedTask', () => {
  it('runs once for a burst of asks, at the earliest time asked', async () => {
    const runs: number[] = [];
    const t0 = Date.now();
    const task = new QueuedTask(new SerialQueue(), () => {
      runs.push(Date.now() - t0);
    });
    task.soon(400);
    task.soon(50);
    task.soon(300);
    await sleep(250);
    assert.equal(runs.length, 1);
    assert.ok(runs[0]! < 250, `ran at ${runs[0]} ms`);
    await sleep(300);
    assert.equal(runs.length, 1, 'the later asks were folded into the earlier run');
  });

  it('runs after the operation in the queue, once it answered its caller; asks meanwhile fold into that run', async () => {
    const queue = new SerialQueue();
    const order: string[] = [];
    const task = new QueuedTask(queue, () => {
      order.push('task');
    });
    let release!: () => void;
    const op = queue.run(() => new Promise<void>((r) => (release = r)));
    task.soon(0);
    await sleep(20);
    task.soon(0);
    const answered = op.then(() => order.push('caller'));
    release();
    await answered;
    await sleep(20);
    assert.deepEqual(order, ['caller', 'task']);
  });

  it('a run that throws does not stop the next', async () => {
    let n = 0;
    const task = new QueuedTask(new SerialQueue(), () => {
      n++;
      throw new Error('refused');
    });
    task.soon(0);
    await sleep(20);
    task.soon(0);
    await sleep(20);
    assert.equal(n, 2);
  });
});

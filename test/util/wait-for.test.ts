import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WaitTimeout, waitFor } from '../../src/util/wait-for.js';

describe('waitFor', () => {
  it('returns the first truthy value the condition gives, polling until then', async () => {
    let calls = 0;
    const value = await waitFor(() => ++calls >= 3 && `after ${calls}`, { what: 'three calls', interval: 1 });
    assert.equal(value, 'after 3');
    assert.equal(calls, 3);
  });

  it('awaits asynchronous conditions', async () => {
    let n = 0;
    assert.equal(await waitFor(async () => ++n === 2 && n, { what: 'two', interval: 1 }), 2);
  });

  it('times out naming what it awaited, with the detail', async () => {
    const t0 = Date.now();
    let calls = 0;
    await assert.rejects(
      waitFor(
        () => {
          calls++;
          return false;
        },
        { what: 'the daemon socket', timeout: 120, interval: 20, detail: () => 'log: nothing' },
      ),
      (err: Error) =>
        err instanceof WaitTimeout &&
        err.message === 'timed out after 120 ms waiting for the daemon socket: log: nothing',
    );
    assert.ok(Date.now() - t0 >= 120, 'waited the whole timeout');
    assert.ok(calls >= 3 && calls <= 8, `polled every interval (${calls} calls)`);
  });

  it('lets an error of the condition through at once', async () => {
    const broken = () => {
      throw new Error('broken probe');
    };
    await assert.rejects(waitFor(broken, { what: 'x', timeout: 10_000 }), /broken probe/);
  });
});

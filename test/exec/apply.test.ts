import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VirtwallError } from '../../src/errors.js';
import { applyPlan } from '../../src/exec/apply.js';
import { FakeRunner } from '../../src/exec/fake.js';
import { PlanBuilder, dryRunCommands } from '../../src/plan/transaction.js';

const cmd = (line: string, ignoreErrors = false) => ({ argv: line.split(' '), ignoreErrors });

describe('applying a plan', () => {
  it('runs groups in order and tolerates failures where the group or command ignores them', async () => {
    const plan = new PlanBuilder()
      .startGroup(true)
      .add(cmd('t -D gone'))
      .add(cmd('t -X gone'))
      .startGroup()
      .add(cmd('t -F maybe', true))
      .add(cmd('t -N new'))
      .build();
    const runner = new FakeRunner((line) =>
      line.includes('gone') || line.includes('maybe') ? { status: 1 } : undefined,
    );
    await applyPlan(plan, runner);
    assert.deepEqual(runner.calls, ['t -D gone', 't -X gone', 't -F maybe', 't -N new']);
  });

  it('aborts on a failure, runs only the failed group rollback, and reports the command', async () => {
    const plan = new PlanBuilder()
      .startGroup()
      .add(cmd('t -N one'))
      .startRollback()
      .add(cmd('t -X one'))
      .startGroup()
      .add(cmd('t -N two'))
      .add(cmd('t -A two bad'))
      .add(cmd('t -A two never'))
      .startRollback()
      .add(cmd('t -X two'))
      .add(cmd('t -X again'))
      .build();
    const runner = new FakeRunner((line) =>
      line.endsWith('bad') || line.endsWith('-X two') ? { status: 2, stderr: 'nope' } : undefined,
    );
    await assert.rejects(applyPlan(plan, runner), (err: unknown) => {
      assert.ok(err instanceof VirtwallError);
      assert.equal(err.kind, 'operation-failed');
      assert.match(err.message, /t -A two bad.*nope/);
      return true;
    });
    assert.deepEqual(runner.calls, ['t -N one', 't -N two', 't -A two bad', 't -X two', 't -X again']);
  });

  it('appends commands derived from a query output to the end of its group', async () => {
    const plan = new PlanBuilder()
      .startGroup(true)
      .add({
        ...cmd('t -L root'),
        followUp: (out) =>
          out
            .split('\n')
            .filter(Boolean)
            .map((c) => cmd(`t -X ${c}`)),
      })
      .add(cmd('t -X root'))
      .startGroup()
      .add(cmd('t -N root'))
      .build();
    const runner = new FakeRunner((line) => (line === 't -L root' ? { stdout: 'sub1\nsub2\n' } : undefined));
    await applyPlan(plan, runner);
    assert.deepEqual(runner.calls, ['t -L root', 't -X root', 't -X sub1', 't -X sub2', 't -N root']);
    assert.deepEqual(
      dryRunCommands(plan).map((c) => c.argv.join(' ')),
      ['t -L root', 't -X root', 't -N root'],
    );
  });
});

// doctor's runner (pure): a check's findings decide its status, problems decide the exit, a
// check that throws is reported as a problem instead of ending the run, and the text report
// lists every check and every finding with its fix.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatDoctor, runDoctor } from '../../src/host/doctor/run.js';
import type { Check, DoctorContext } from '../../src/host/doctor/checks.js';

const ctx = {} as DoctorContext;
const check = (id: string, run: Check['run']): Check => ({ id, title: `title of ${id}`, run });

describe('doctor runner', () => {
  it('turns findings into statuses and the exit decision', async () => {
    const report = await runDoctor(ctx, [
      check('fine', async () => []),
      check('noted', async () => [{ severity: 'note', problem: 'p1', fix: 'f1' }]),
      check('broken', async () => [{ severity: 'problem', problem: 'p2', fix: 'f2' }]),
      check('throws', async () => {
        throw new Error('no nft');
      }),
    ]);
    assert.deepEqual(
      report.checks.map((c) => c.status),
      ['ok', 'note', 'problem', 'problem'],
    );
    assert.equal(report.ok, false);
    assert.match(report.checks[3]!.findings[0]!.problem, /could not run: no nft/);
    assert.equal(
      (await runDoctor(ctx, [check('noted', async () => [{ severity: 'note', problem: 'p', fix: 'f' }])])).ok,
      true,
    );
    const text = formatDoctor(report);
    for (const id of ['fine', 'noted', 'broken', 'throws']) assert.match(text, new RegExp(`^ ${id} `, 'm'));
    assert.match(text, /^broken \(problem\): p2\n  fix: f2$/m);
    assert.match(text, /^noted \(note\): p1\n  fix: f1$/m);
  });
});

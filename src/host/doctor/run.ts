// Runs doctor's checks (checks.ts) one after another and reports each: ok, or its findings
// with their fixes; a check that fails to run is reported as a problem of its own.
import { readFileSync } from 'node:fs';
import { formatTable } from '../../cli/table.js';
import { CHECKS, type Check, type DoctorContext, type Finding } from './checks.js';

export interface CheckResult {
  id: string;
  title: string;
  status: 'ok' | 'note' | 'problem';
  findings: Finding[];
}

export interface DoctorReport {
  /** No check found a problem (doctor's exit status 0). */
  ok: boolean;
  checks: CheckResult[];
}

/** A /proc or /sys file's trimmed text; undefined when it does not exist. */
export function readKernelFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export async function runDoctor(ctx: DoctorContext, checks: readonly Check[] = CHECKS): Promise<DoctorReport> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    let findings: Finding[];
    try {
      findings = await check.run(ctx);
    } catch (err) {
      findings = [
        { severity: 'problem', problem: `the check could not run: ${(err as Error).message}`, fix: 'see the message' },
      ];
    }
    const status = findings.some((f) => f.severity === 'problem') ? 'problem' : findings.length > 0 ? 'note' : 'ok';
    results.push({ id: check.id, title: check.title, status, findings });
  }
  return { ok: results.every((r) => r.status !== 'problem'), checks: results };
}

/** The report as a table of checks, then each finding with its fix. */
export function formatDoctor(report: DoctorReport): string {
  const table = formatTable(
    ['Check', 'Status', 'What'],
    report.checks.map((c) => [c.id, c.status, c.title]),
  );
  const details = report.checks
    .flatMap((c) => c.findings.map((f) => `${c.id} (${f.severity}): ${f.problem}\n  fix: ${f.fix}\n`))
    .join('');
  return table + (details ? `\n${details}` : '');
}

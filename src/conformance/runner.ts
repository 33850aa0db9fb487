// Runs conformance suites against a libvirt-style corpus and reports per suite.
import { existsSync } from 'node:fs';
import type { CaseResult, Suite, SuiteCase } from './suite.js';
import { allSuites } from './suites/index.js';

export interface SuiteReport {
  suite: string;
  status: 'ran' | 'not-implemented' | 'no-data';
  passed: number;
  failed: { name: string; detail: string }[];
}

export async function runCase(c: SuiteCase): Promise<CaseResult> {
  try {
    return await c.run();
  } catch (err) {
    return { ok: false, detail: `unexpected error: ${(err as Error).stack ?? String(err)}` };
  }
}

export async function runSuite(suite: Suite, corpus: string): Promise<SuiteReport> {
  if ('notImplemented' in suite) return { suite: suite.name, status: 'not-implemented', passed: 0, failed: [] };
  const cases = suite.discover(corpus);
  if (cases === undefined) return { suite: suite.name, status: 'no-data', passed: 0, failed: [] };
  const report: SuiteReport = { suite: suite.name, status: 'ran', passed: 0, failed: [] };
  for (const c of cases) {
    const r = await runCase(c);
    if (r.ok) report.passed++;
    else report.failed.push({ name: c.name, detail: r.detail ?? '' });
  }
  return report;
}

export function selectSuites(name?: string): Suite[] {
  const suites = allSuites();
  if (name === undefined) return suites;
  const found = suites.filter((s) => s.name === name);
  if (found.length === 0) throw new Error(`unknown suite '${name}' (known: ${suites.map((s) => s.name).join(', ')})`);
  return found;
}

export function corpusExists(corpus: string): boolean {
  return existsSync(corpus);
}

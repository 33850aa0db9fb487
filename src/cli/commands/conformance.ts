// `virtwall conformance`: run libvirt's own test data against virtwall.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { invalidInput } from '../../errors.js';

/** libvirt 11.3.0's test data, vendored in the repository (src/ and dist/ are both two levels down). */
export const DEFAULT_CORPUS = fileURLToPath(new URL('../../../test/corpus', import.meta.url));

export function registerConformance(program: Command): void {
  program
    .command('conformance')
    .description("run libvirt's test data (a libvirt-style tests/ folder) and report per suite")
    .option('--corpus <dir>', 'corpus root, laid out like libvirt tests/', DEFAULT_CORPUS)
    .option('--suite <name>', 'run only this suite')
    .option('--verbose', 'print every failing case in full')
    .action(async (opts: { corpus: string; suite?: string; verbose?: boolean }) => {
      // the suites load only for this command (the CLI's other commands start faster without them)
      const { corpusExists, runSuite, selectSuites } = await import('../../conformance/runner.js');
      const corpus = resolve(opts.corpus);
      if (!corpusExists(corpus)) throw invalidInput(`corpus folder '${corpus}' does not exist`);
      let suites: ReturnType<typeof selectSuites>;
      try {
        suites = selectSuites(opts.suite);
      } catch (err) {
        throw invalidInput((err as Error).message);
      }
      let anyFailed = false;
      const failures: string[] = [];
      for (const suite of suites) {
        const report = await runSuite(suite, corpus);
        if (report.status === 'not-implemented') {
          process.stdout.write(`${report.suite}: not implemented\n`);
          continue;
        }
        if (report.status === 'no-data') {
          process.stdout.write(`${report.suite}: no data\n`);
          continue;
        }
        process.stdout.write(`${report.suite}: ${report.passed} passed, ${report.failed.length} failed\n`);
        for (const f of report.failed) {
          anyFailed = true;
          const detail = opts.verbose ? f.detail : f.detail.split('\n').slice(0, 25).join('\n');
          failures.push(`--- ${report.suite}/${f.name}\n${detail}\n`);
        }
      }
      if (failures.length) process.stdout.write(`\n${failures.join('\n')}`);
      process.exitCode = anyFailed ? 1 : 0;
    });
}

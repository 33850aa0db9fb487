// node:test reporter for scripts/run-tests.mjs, beside the spec reporter: at the end, the
// slowest test files (wall time of each file's process, slowest first) and every skipped test
// with its reason, so a kernel test that could not run is counted and says why.
import { relative, resolve } from 'node:path';

const TOP = 20;

export default async function* summary(source) {
  const files = new Map();
  const skipped = [];
  for await (const { type, data } of source) {
    // each file's own test (named by its path, absolute on Node 20, as given on Node 24) completes
    // when its process has ended
    if (type === 'test:complete' && data.file && resolve(data.name) === data.file)
      files.set(data.file, data.details.duration_ms);
    if (type === 'test:pass' && data.skip !== undefined)
      skipped.push({ file: data.file, name: data.name, reason: data.skip });
  }
  const rows = [...files].sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((s, [, ms]) => s + ms, 0);
  yield `\nslowest test files (${rows.length} files, ${(total / 1000).toFixed(0)} s of file time):\n`;
  for (const [file, ms] of rows.slice(0, TOP))
    yield `  ${(ms / 1000).toFixed(1).padStart(7)} s  ${relative(process.cwd(), file)}\n`;
  const reasons = new Map();
  for (const s of skipped) reasons.set(String(s.reason), [...(reasons.get(String(s.reason)) ?? []), s]);
  yield `skipped: ${skipped.length}\n`;
  for (const [reason, tests] of reasons) {
    yield `  ${tests.length} x ${reason === 'true' ? '(no reason given)' : reason}: ${[...new Set(tests.map((s) => relative(process.cwd(), s.file)))].join(', ')}\n`;
  }
}

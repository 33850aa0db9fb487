#!/usr/bin/env node
// Compiles src/ to dist/ (tsconfig.build.json) and stamps the build with the sources it was made
// from (source-stamp.mjs). The stamp is taken before compiling and written only after success,
// so a failed build, or a source edited while it ran, leaves no build that bin/ would run.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DIST, PACKAGE_ROOT, sourceStamp, STAMP_FILE } from './source-stamp.mjs';

rmSync(DIST, { recursive: true, force: true });
const stamp = sourceStamp();
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: PACKAGE_ROOT, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
writeFileSync(STAMP_FILE, stamp);

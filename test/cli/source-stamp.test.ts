// scripts/source-stamp.mjs, which bin/ loads before every command: in an installed package (no
// src/) it trusts the build it shipped without hashing anything, so node:crypto (about 15 ms of
// a Node 24 start) does not load; in a checkout it hashes the sources unless each stands on disk
// as the build found it. Checked in a fresh process from Node's list of the built-in modules it loaded.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '../..');

/** Whether the build counts as current in `dir`, and whether node:crypto was loaded to decide it. */
function check(dir: string): { current: boolean; crypto: boolean } {
  const probe = join(dir, 'probe.mjs');
  writeFileSync(
    probe,
    `import { builtFromCurrentSources } from './scripts/source-stamp.mjs';
const current = builtFromCurrentSources();
console.log(JSON.stringify({ current, crypto: process.moduleLoadList.includes('NativeModule crypto') }));
`,
  );
  const r = spawnSync(process.execPath, [probe], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { current: boolean; crypto: boolean };
}

it('an installed package trusts its build without loading node:crypto; a checkout hashes its sources', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vwt-stamp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(repo, 'scripts/source-stamp.mjs'), join(dir, 'scripts/source-stamp.mjs'));
  mkdirSync(join(dir, 'dist'));
  writeFileSync(join(dir, 'dist/.source-stamp'), 'stamp of the shipped build');
  assert.deepEqual(check(dir), { current: true, crypto: false }, 'installed: no src/');
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src/a.ts'), 'export {};\n');
  assert.deepEqual(check(dir), { current: false, crypto: true }, 'a checkout whose sources changed');
});

it('a checkout skips the hashing while every source stands as the build found it, and hashes after any write', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vwt-stamp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(repo, 'scripts/source-stamp.mjs'), join(dir, 'scripts/source-stamp.mjs'));
  mkdirSync(join(dir, 'src'));
  const source = join(dir, 'src/a.ts');
  writeFileSync(source, 'export const a = 1;\n');
  // older than the build's racy window: a file changed within it is always hashed
  await new Promise((r) => setTimeout(r, 250));
  const build = join(dir, 'build.mjs');
  writeFileSync(
    build,
    `import { mkdirSync, writeFileSync } from 'node:fs';
import { INDEX_FILE, sourceStamp, STAMP_FILE, DIST } from './scripts/source-stamp.mjs';
const index = [];
const stamp = sourceStamp(index);
mkdirSync(DIST, { recursive: true });
writeFileSync(INDEX_FILE, index.join('\\n'));
writeFileSync(STAMP_FILE, stamp);
`,
  );
  assert.equal(spawnSync(process.execPath, [build]).status, 0);
  assert.deepEqual(check(dir), { current: true, crypto: false }, 'as built: nothing hashed');

  writeFileSync(source, 'export const a = 1;\n');
  assert.deepEqual(check(dir), { current: true, crypto: true }, 'written with the same bytes: hashed, still current');

  // the same size and modification time as before, other bytes: the change time still tells
  const { atime, mtime } = statSync(source);
  writeFileSync(source, 'export const a = 2;\n');
  utimesSync(source, atime, mtime);
  assert.deepEqual(check(dir), { current: false, crypto: true }, 'other bytes under the old times');

  writeFileSync(source, 'export const a = 1;\n');
  writeFileSync(join(dir, 'src/b.ts'), 'export {};\n');
  assert.deepEqual(check(dir), { current: false, crypto: true }, 'a source added');
});

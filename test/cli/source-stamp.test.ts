// scripts/source-stamp.mjs, which bin/ loads before every command: in an installed package (no
// src/) it trusts the build it shipped without hashing anything, so node:crypto (about 15 ms of
// a Node 24 start) does not load; in a checkout it hashes the sources. Checked in a fresh process
// from Node's list of the built-in modules it loaded.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

// bin/compile-cache.js: Node's compile cache only in a folder this user alone may write (its code
// is run), never through a symlink or a folder others may write or own; on by itself under Node
// 22.1 and later (the Node 24 run of the unit tests), absent on Node 20.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { compileCacheDir, enableCompileCache, privateDir } = (await import('../../bin/compile-cache.js' as string)) as {
  compileCacheDir(env: Record<string, string | undefined>): string;
  enableCompileCache(dir: string): string | undefined;
  privateDir(dir: string): boolean;
};
const root = process.getuid?.() === 0;

it('lives under $XDG_CACHE_HOME', () => {
  assert.equal(compileCacheDir({ XDG_CACHE_HOME: '/home/u/.cache' }), '/home/u/.cache/virtwall/node-compile-cache');
});

it('is used only in a folder private to the user', (t) => {
  const base = mkdtempSync(join(tmpdir(), 'vwt-cache-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const dir = (name: string) => join(base, name, 'virtwall/node-compile-cache');

  assert.equal(privateDir(dir('a')), true);
  assert.equal(statSync(dir('a')).mode & 0o777, 0o700, 'created 0700');

  mkdirSync(join(base, 'open'), { mode: 0o777 });
  chmodSync(join(base, 'open'), 0o777);
  assert.equal(privateDir(dir('open')), false, 'a parent others may write');

  mkdirSync(join(base, 'target/virtwall'), { recursive: true });
  mkdirSync(join(base, 'link'));
  symlinkSync(join(base, 'target/virtwall'), join(base, 'link/virtwall'));
  assert.equal(privateDir(dir('link')), false, 'a symlink in the path');

  if (root) {
    mkdirSync(dir('other'), { recursive: true, mode: 0o700 });
    chownSync(join(base, 'other/virtwall'), 65534, 65534);
    assert.equal(privateDir(dir('other')), false, 'a folder of another user');
  }
});

it('is enabled where Node has it', (t) => {
  const base = mkdtempSync(join(tmpdir(), 'vwt-cache-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const dir = join(base, 'virtwall/node-compile-cache');
  const has = typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function';
  // the test runner may already have a cache on (NODE_COMPILE_CACHE): then Node keeps its own
  const enabled = enableCompileCache(dir);
  if (!has) assert.equal(enabled, undefined);
  else if (!process.env['NODE_COMPILE_CACHE']) assert.ok(enabled?.startsWith(dir), String(enabled));
});

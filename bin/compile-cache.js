// Node's compile cache (module.enableCompileCache, Node 22.1 and later; nothing on Node 20): V8
// keeps the bundle's compiled code on disk, so a command does not compile it again at every
// start. The cache is code this process will run, so its folder must be one only this user (or
// root) can write: under $XDG_CACHE_HOME, else ~/.cache, created 0700 and checked, never a
// shared or predictable path such as /tmp. NODE_COMPILE_CACHE (Node's own setting) is respected;
// NODE_DISABLE_COMPILE_CACHE=1 turns it off.
import module from 'node:module';

// built-in modules through require, as in scripts/source-stamp.mjs
const require = module.createRequire(import.meta.url);
const { lstatSync, mkdirSync } = require('node:fs');
const { homedir } = require('node:os');
const { join } = require('node:path');

/** The cache folder for this user: `CACHE/virtwall/node-compile-cache`. */
export function compileCacheDir(env = process.env) {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'virtwall', 'node-compile-cache');
}

/** A real folder (not a symlink) owned by this user or root that no one else may write. */
function private_(path) {
  const st = lstatSync(path, { throwIfNoEntry: false });
  const uid = process.getuid?.();
  return st?.isDirectory() === true && (st.uid === uid || st.uid === 0) && (st.mode & 0o022) === 0;
}

/** Creates `dir` (0700) if needed; true when it and its two parents are private to this user. */
export function privateDir(dir) {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch {
    return false;
  }
  const app = join(dir, '..');
  return [join(app, '..'), app, dir].every(private_);
}

/**
 * Enables the compile cache in this user's private folder; returns the folder, or undefined when
 * Node has no compile cache or the folder is not safe (then every start compiles, as on Node 20).
 */
export function enableCompileCache(dir = compileCacheDir()) {
  if (typeof module.enableCompileCache !== 'function' || process.getuid === undefined) return undefined;
  if (!privateDir(dir)) return undefined;
  const r = module.enableCompileCache(dir);
  return r.status === module.constants.compileCacheStatus.FAILED ? undefined : (r.directory ?? dir);
}

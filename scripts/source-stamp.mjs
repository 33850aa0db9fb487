// The one stamp of virtwall's code: a sha256 over every file under src/ and the compiler
// settings, each as its path and the sha256 of its bytes (contents only: npm and git checkouts
// set modification times freely, so times would both miss nothing and invalidate for nothing).
// The build records the stamp of the sources it compiled in dist/; bin/virtwall.js runs the
// compiled code only while the sources still give that stamp, so an edited, added, removed or
// checked-out source file sends it back to the TypeScript (through tsx), never to stale code.
// State that only caches what the code computed (the nftables backend's compiled ports) is
// trusted only under the same stamp (src/util/code-version.ts).
import { createRequire } from 'node:module';

// Built-in modules through require: an ES import builds a module's whole namespace (node:fs's
// promises, streams, readline...), paid by every command, as bin/ loads this file first.
const require = createRequire(import.meta.url);
const { existsSync, readdirSync, readFileSync, statSync } = require('node:fs');
const { join, relative } = require('node:path');
const { fileURLToPath } = require('node:url');

export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = join(PACKAGE_ROOT, 'dist');
export const STAMP_FILE = join(DIST, '.source-stamp');
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json'];

// node:crypto only where sources are hashed (a checkout): loading it costs Node 24 some 15 ms
const sha256 = (data) => require('node:crypto').createHash('sha256').update(data).digest('hex');

function entries(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return [];
  if (st.isDirectory())
    return readdirSync(path)
      .sort()
      .flatMap((name) => entries(join(path, name)));
  return [`${relative(PACKAGE_ROOT, path)}\t${sha256(readFileSync(path))}`];
}

/** The stamp of the sources as they are now. */
export function sourceStamp() {
  return sha256(INPUTS.flatMap((p) => entries(join(PACKAGE_ROOT, p))).join('\n'));
}

/** The stamp dist/ was built from; undefined when there is no complete build. */
export function builtStamp() {
  return existsSync(STAMP_FILE) ? readFileSync(STAMP_FILE, 'utf8') : undefined;
}

/**
 * True when dist/ is what runs: a complete build of exactly the current sources, or, in an
 * installed package (`npm pack` ships dist/ without src/), the complete build it shipped.
 */
export function builtFromCurrentSources() {
  const built = builtStamp();
  if (built === undefined) return false;
  return !existsSync(join(PACKAGE_ROOT, 'src')) || built === sourceStamp();
}

// The one stamp of virtwall's code: a sha256 over every file under src/ and the compiler
// settings, each as its path and the sha256 of its bytes (contents only: npm and git checkouts
// set modification times freely, so times would both miss nothing and invalidate for nothing).
// The build records the stamp of the sources it compiled in dist/; bin/virtwall.js runs the
// compiled code only while the sources still give that stamp, so an edited, added, removed or
// checked-out source file sends it back to the TypeScript (through tsx), never to stale code.
// To spare a checkout's every command the hashing, the build also records how each source stood
// on disk (inode, size, modification and change times, as git's index does): while every source
// still stands so, none was written since (a write sets the change time, which nothing can set
// back), and the hashing is skipped; any difference, and bin/ hashes as before.
// State that only caches what the code computed (the nftables backend's compiled ports) is
// trusted only under the same stamp (src/util/code-version.ts).
import { createRequire } from 'node:module';

// Built-in modules through require: an ES import builds a module's whole namespace (node:fs's
// promises, streams, readline...), paid by every command, as bin/ loads this file first.
const require = createRequire(import.meta.url);
const { existsSync, readdirSync, readFileSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { fileURLToPath } = require('node:url');

export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = join(PACKAGE_ROOT, 'dist');
export const STAMP_FILE = join(DIST, '.source-stamp');
/** Each source's path and how it stood when the build hashed it (statKey), a line each. */
export const INDEX_FILE = join(DIST, '.source-index');
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json'];

// node:crypto only where sources are hashed (a checkout): loading it costs Node 24 some 15 ms
const sha256 = (data) => require('node:crypto').createHash('sha256').update(data).digest('hex');

/** How a file stands on disk: any write since changes it. */
const statKey = (st) => `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
/**
 * Change times are coarse (a clock tick): a file written within a tick after it was hashed could
 * keep its change time, so a file changed this recently is recorded as unknown (always hashed).
 */
const RACY_MS = 100;

/** The files under input `rel` (sorted), each with its stat. */
function files(rel) {
  const path = `${PACKAGE_ROOT}${rel}`;
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return [];
  if (st.isDirectory())
    return readdirSync(path)
      .sort()
      .flatMap((name) => files(`${rel}/${name}`));
  return [{ path, rel, st }];
}

const inputFiles = () => INPUTS.flatMap(files);

/** The stamp of the sources as they are now; `index`, when given, gets each file's line for INDEX_FILE. */
export function sourceStamp(index) {
  const now = Date.now();
  const lines = inputFiles().map(({ path, rel, st }) => {
    index?.push(`${rel}\t${st.ctimeMs > now - RACY_MS ? '' : statKey(st)}`);
    return `${rel}\t${sha256(readFileSync(path))}`;
  });
  return sha256(lines.join('\n'));
}

/** Whether every source stands on disk as when the build hashed it (and no file came or went). */
function unchangedSinceBuild() {
  if (!existsSync(INDEX_FILE)) return false;
  const recorded = readFileSync(INDEX_FILE, 'utf8').split('\n');
  const now = inputFiles();
  return (
    recorded.length === now.length &&
    now.every(({ rel, st }, i) => {
      const [path, key] = recorded[i].split('\t');
      return path === rel && key !== '' && key === statKey(st);
    })
  );
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
  return !existsSync(join(PACKAGE_ROOT, 'src')) || unchangedSinceBuild() || built === sourceStamp();
}

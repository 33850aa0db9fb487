// What a build of dist/ was made from: every file under src/ and the compiler settings, each as
// path, size and modification time. The build records it in dist/; bin/virtwall.js runs the
// compiled code only when the sources still give the same stamp, so an edited, added, removed
// or checked-out source file sends it back to the TypeScript (through tsx), never to stale code.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = join(PACKAGE_ROOT, 'dist');
export const STAMP_FILE = join(DIST, '.source-stamp');
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json'];

function entries(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return [];
  if (st.isDirectory()) return readdirSync(path).sort().flatMap((name) => entries(join(path, name)));
  return [`${relative(PACKAGE_ROOT, path)}\t${st.size}\t${st.mtimeMs}`];
}

/** The stamp of the sources as they are now. */
export function sourceStamp() {
  return `${INPUTS.flatMap((p) => entries(join(PACKAGE_ROOT, p))).join('\n')}\n`;
}

/**
 * True when dist/ is what runs: a complete build of exactly the current sources, or, in an
 * installed package (`npm pack` ships dist/ without src/), the complete build it shipped.
 */
export function builtFromCurrentSources() {
  if (!existsSync(STAMP_FILE)) return false;
  return !existsSync(join(PACKAGE_ROOT, 'src')) || readFileSync(STAMP_FILE, 'utf8') === sourceStamp();
}

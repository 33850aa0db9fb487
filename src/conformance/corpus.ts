// Reading libvirt's test data. Upstream some data files are symlinks to another suite's file;
// copies that lost the link (git without symlink support) hold the link's target path as their
// only content. Both forms are followed. A link whose target is absent (a withheld case) makes
// the file count as absent.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const LINK_STUB = /^\.{1,2}\/[^\n<>]+\.[a-z]+\n?$/;
const MAX_LINKS = 8;

/** The real file behind `path` after following link stubs, or undefined if it dangles. */
export function resolveCorpusFile(path: string): string | undefined {
  let current = path;
  for (let i = 0; i <= MAX_LINKS; i++) {
    if (!existsSync(current)) return undefined;
    const text = readFileSync(current, 'utf8');
    if (!LINK_STUB.test(text)) return current;
    current = resolve(dirname(current), text.trim());
  }
  return undefined;
}

export function corpusFileExists(path: string): boolean {
  return resolveCorpusFile(path) !== undefined;
}

export function readCorpusFile(path: string): string {
  const real = resolveCorpusFile(path);
  if (real === undefined) throw new Error(`${path}: missing, or a link to a missing file`);
  return readFileSync(real, 'utf8');
}

/**
 * Sorted names of the files in a corpus folder that resolve to real data (dangling links left
 * out), or undefined when the folder does not exist.
 */
export function listCorpusDir(corpus: string, dir: string): string[] | undefined {
  const path = join(corpus, dir);
  if (!existsSync(path)) return undefined;
  return readdirSync(path)
    .filter((name) => corpusFileExists(join(path, name)))
    .sort();
}

// Reading libvirt's test data. Upstream some data files are symlinks to another suite's file;
// copies that lost the link (git without symlink support) hold the link's target path as their
// only content. Both forms are followed.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const LINK_STUB = /^\.{1,2}\/[^\n<>]+\.[a-z]+\n?$/;

export function readCorpusFile(path: string, depth = 0): string {
  const text = readFileSync(path, 'utf8');
  if (depth < 8 && LINK_STUB.test(text)) {
    const target = resolve(dirname(path), text.trim());
    if (existsSync(target)) return readCorpusFile(target, depth + 1);
  }
  return text;
}

/** Sorted file names in a corpus folder, or undefined when the folder does not exist. */
export function listCorpusDir(corpus: string, dir: string): string[] | undefined {
  const path = join(corpus, dir);
  if (!existsSync(path)) return undefined;
  return readdirSync(path).sort();
}

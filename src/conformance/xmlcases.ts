// Suites whose cases are the NAME.xml inputs of a data folder, each with expected files beside it.
import { join } from 'node:path';
import { listCorpusDir } from './corpus.js';

export interface XmlCaseFolder {
  dir: string;
  /** Every data file present (links to withheld files left out). */
  files: string[];
  /** NAME of each NAME.xml. */
  names: string[];
}

export function xmlCaseFolder(corpus: string, dataDir: string): XmlCaseFolder | undefined {
  const files = listCorpusDir(corpus, dataDir);
  if (!files) return undefined;
  const names = files.filter((f) => f.endsWith('.xml')).map((f) => f.slice(0, -'.xml'.length));
  return { dir: join(corpus, dataDir), files, names };
}

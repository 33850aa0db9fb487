// Suites whose cases are documents that must parse and format back to themselves
// (libvirt's virnetworkportxml2xmltest and the like): NAME.xml in one data folder.
import { join } from 'node:path';
import { listCorpusDir, readCorpusFile } from './corpus.js';
import { compareText } from './diff.js';
import type { Suite, SuiteCase } from './suite.js';

export function roundTripSuite<T>(name: string, dataDir: string, parse: (text: string, file: string) => T, format: (def: T) => string): Suite {
  return {
    name,
    discover(corpus: string): SuiteCase[] | undefined {
      const files = listCorpusDir(corpus, dataDir);
      if (files === undefined) return undefined;
      return files
        .filter((f) => f.endsWith('.xml'))
        .map((f) => {
          const path = join(corpus, dataDir, f);
          return {
            name: f.slice(0, -'.xml'.length),
            run: () => {
              const text = readCorpusFile(path);
              return compareText(text, format(parse(text, path)));
            },
          };
        });
    },
  };
}

// libvirt's virnwfilterbindingxml2xmltest: each filter binding document parses and formats back
// to itself.
import { join } from 'node:path';
import { formatFilterBinding, parseFilterBinding } from '../../conf/nwfilterbinding/binding.js';
import { listCorpusDir, readCorpusFile } from '../corpus.js';
import { compareText } from '../diff.js';
import type { Suite, SuiteCase } from '../suite.js';

const DATA_DIR = 'virnwfilterbindingxml2xmldata';

export const virnwfilterbindingxml2xml: Suite = {
  name: 'virnwfilterbindingxml2xml',
  discover(corpus: string): SuiteCase[] | undefined {
    const names = listCorpusDir(corpus, DATA_DIR);
    if (names === undefined) return undefined;
    return names
      .filter((n) => n.endsWith('.xml'))
      .map((n) => {
        const file = join(corpus, DATA_DIR, n);
        return {
          name: n.replace(/\.xml$/, ''),
          run: () => {
            const text = readCorpusFile(file);
            return compareText(text, formatFilterBinding(parseFilterBinding(text, file)));
          },
        };
      });
  },
};

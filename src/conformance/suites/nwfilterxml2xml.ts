// libvirt's nwfilterxml2xmltest: each filter of nwfilterxml2xmlin is parsed and formatted, and
// the result compared with the file of the same name in nwfilterxml2xmlout. A case whose output
// file is absent is one libvirt expects to fail parsing (its `-invalid` inputs hold illegal
// attribute values): it passes when the parse is rejected as invalid input. libvirt never
// compares those with nwfilterxml2xmlout/X.xml; those files record older libvirt, which dropped
// the values instead (see FilterParseOptions.invalidValues).
import { join } from 'node:path';
import { VirtwallError } from '../../errors.js';
import { formatFilter } from '../../conf/nwfilter/format.js';
import { parseFilter } from '../../conf/nwfilter/parse.js';
import { corpusFileExists, listCorpusDir, readCorpusFile } from '../corpus.js';
import { compareText } from '../diff.js';
import type { CaseResult, Suite, SuiteCase } from '../suite.js';

const IN_DIR = 'nwfilterxml2xmlin';
const OUT_DIR = 'nwfilterxml2xmlout';

function roundTrip(inFile: string, outFile: string): CaseResult {
  const def = parseFilter(readCorpusFile(inFile), inFile);
  return compareText(readCorpusFile(outFile), formatFilter(def));
}

function expectRejected(inFile: string): CaseResult {
  try {
    parseFilter(readCorpusFile(inFile), inFile);
  } catch (err) {
    if (err instanceof VirtwallError && err.kind === 'invalid-input' && err.location.line !== undefined) return { ok: true };
    throw err;
  }
  return { ok: false, detail: 'parsed, but libvirt rejects this filter' };
}

export const nwfilterxml2xml: Suite = {
  name: 'nwfilterxml2xml',
  discover(corpus: string): SuiteCase[] | undefined {
    const names = listCorpusDir(corpus, IN_DIR);
    if (names === undefined) return undefined;
    return names
      .filter((n) => n.endsWith('.xml'))
      .map((n) => {
        const inFile = join(corpus, IN_DIR, n);
        const outFile = join(corpus, OUT_DIR, n);
        return {
          name: n.replace(/\.xml$/, ''),
          run: () => (corpusFileExists(outFile) ? roundTrip(inFile, outFile) : expectRejected(inFile)),
        };
      });
  },
};

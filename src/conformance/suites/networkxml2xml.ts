// libvirt's networkxml2xmltest: networkxml2xmlin/NAME.xml parses and formats to
// networkxml2xmlout/NAME.xml; an input without an output file must fail to parse.
//
// The harness formats three cases with VIR_NETWORK_XML_INACTIVE. That flag only hides live state
// (connection counts, which parsing never sets, and the <interface> list of a <pf> network,
// which parsing never fills alongside a <pf>), so on a freshly parsed definition both forms are
// identical and every case is formatted live without naming any.
import { join } from 'node:path';
import { VirtwallError } from '../../errors.js';
import { formatNetwork } from '../../conf/network/format.js';
import { parseNetwork } from '../../conf/network/parse.js';
import { corpusFileExists, listCorpusDir, readCorpusFile } from '../corpus.js';
import { compareText } from '../diff.js';
import type { CaseResult, Suite, SuiteCase } from '../suite.js';

const IN_DIR = 'networkxml2xmlin';
const OUT_DIR = 'networkxml2xmlout';

function runCase(corpus: string, file: string): CaseResult {
  const inPath = join(corpus, IN_DIR, file);
  const outPath = join(corpus, OUT_DIR, file);
  const expectFailure = !corpusFileExists(outPath);
  let actual: string;
  try {
    actual = formatNetwork(parseNetwork(readCorpusFile(inPath), inPath));
  } catch (err) {
    if (expectFailure && err instanceof VirtwallError) return { ok: true };
    return { ok: false, detail: `unexpected error: ${(err as Error).message}` };
  }
  if (expectFailure) return { ok: false, detail: `parsed although libvirt rejects it:\n${actual}` };
  return compareText(readCorpusFile(outPath), actual);
}

export const networkxml2xml: Suite = {
  name: 'networkxml2xml',
  discover(corpus) {
    const files = listCorpusDir(corpus, IN_DIR);
    if (!files) return undefined;
    return files.filter((f) => f.endsWith('.xml')).map((f): SuiteCase => ({ name: f.slice(0, -'.xml'.length), run: () => runCase(corpus, f) }));
  },
};

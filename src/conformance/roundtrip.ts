// Suites whose cases are documents parsed and formatted back: IN/NAME.xml must format to
// OUT/NAME.xml (OUT may be IN itself, as in virnetworkportxml2xmltest). An input without an
// output file is one libvirt's harness expects to fail parsing: it passes when the parse is
// refused as invalid input with a location.
import { join } from 'node:path';
import { VirtwallError } from '../errors.js';
import { corpusFileExists, readCorpusFile } from './corpus.js';
import { compareText } from './diff.js';
import type { CaseResult, Suite } from './suite.js';
import { xmlCaseFolder } from './xmlcases.js';

export interface RoundTripSpec<T> {
  name: string;
  inDir: string;
  /** Folder of the expected outputs; the input folder when absent. */
  outDir?: string;
  parse: (text: string, file: string) => T;
  format: (def: T) => string;
}

function expectRejected(parse: () => unknown): CaseResult {
  try {
    parse();
  } catch (err) {
    if (err instanceof VirtwallError && err.kind === 'invalid-input' && err.location.line !== undefined)
      return { ok: true };
    throw err;
  }
  return { ok: false, detail: 'parsed, but libvirt rejects this document' };
}

export function roundTripSuite<T>(spec: RoundTripSpec<T>): Suite {
  return {
    name: spec.name,
    discover(corpus: string) {
      const folder = xmlCaseFolder(corpus, spec.inDir);
      if (!folder) return undefined;
      return folder.names.map((name) => {
        const inFile = join(folder.dir, `${name}.xml`);
        const outFile = join(corpus, spec.outDir ?? spec.inDir, `${name}.xml`);
        const parse = () => spec.parse(readCorpusFile(inFile), inFile);
        return {
          name,
          run: () =>
            corpusFileExists(outFile)
              ? compareText(readCorpusFile(outFile), spec.format(parse()))
              : expectRejected(parse),
        };
      });
    },
  };
}

// libvirt's networkxml2xmlupdatetest: each case of networkxml2xmlupdate-cases.json applies one
// update fragment to a base network and compares the result (or expects a failure).
//
// The harness's DO_TEST_FULL lists `flags` before `parentIndex` while its struct declares them
// the other way round, so libvirt really calls virNetworkDefUpdateSection with parentIndex 0 and
// formats with the case's index as the format flags. The suite reproduces that: every update
// uses index 0, and an index with bit 0 set formats inactive (VIR_NETWORK_XML_INACTIVE).
import { join } from 'node:path';
import { VirtwallError } from '../../errors.js';
import { formatNetwork } from '../../conf/network/format.js';
import { parseNetwork } from '../../conf/network/parse.js';
import {
  UPDATE_COMMANDS,
  UPDATE_SECTIONS,
  updateNetwork,
  type UpdateCommand,
  type UpdateSection,
} from '../../conf/network/update.js';
import { corpusFileExists, readCorpusFile } from '../corpus.js';
import { compareText } from '../diff.js';
import type { CaseResult, Suite, SuiteCase } from '../suite.js';

const CASE_TABLE = 'networkxml2xmlupdate-cases.json';

interface UpdateCase {
  name: string;
  update: string;
  network: string;
  section: string;
  command: string;
  parentIndex: number;
  expected?: string;
  expectFailure: boolean;
}

/** The index the harness's swapped initialisers hand to virNetworkDefUpdateSection. */
const HARNESS_PARENT_INDEX = 0;

function runCase(corpus: string, c: UpdateCase): CaseResult {
  if (!UPDATE_SECTIONS.includes(c.section as UpdateSection))
    return { ok: false, detail: `unknown section '${c.section}'` };
  if (!UPDATE_COMMANDS.includes(c.command as UpdateCommand))
    return { ok: false, detail: `unknown command '${c.command}'` };
  const netPath = join(corpus, 'networkxml2xmlin', `${c.network}.xml`);
  const updatePath = join(corpus, 'networkxml2xmlupdatein', `${c.update}.xml`);
  let actual: string;
  try {
    const def = parseNetwork(readCorpusFile(netPath), netPath);
    const updated = updateNetwork(
      def,
      c.command as UpdateCommand,
      c.section as UpdateSection,
      HARNESS_PARENT_INDEX,
      readCorpusFile(updatePath),
      updatePath,
    );
    actual = formatNetwork(updated, { inactive: (c.parentIndex & 1) === 1 });
  } catch (err) {
    if (c.expectFailure && err instanceof VirtwallError) return { ok: true };
    return { ok: false, detail: `unexpected error: ${(err as Error).message}` };
  }
  if (c.expectFailure) return { ok: false, detail: `update succeeded although libvirt rejects it:\n${actual}` };
  return compareText(readCorpusFile(join(corpus, 'networkxml2xmlupdateout', `${c.expected}.xml`)), actual);
}

export const networkxml2xmlupdate: Suite = {
  name: 'networkxml2xmlupdate',
  discover(corpus) {
    const table = join(corpus, CASE_TABLE);
    if (!corpusFileExists(table)) return undefined;
    const cases = (JSON.parse(readCorpusFile(table)) as { cases: UpdateCase[] }).cases;
    const needed = (c: UpdateCase) => [
      join('networkxml2xmlin', `${c.network}.xml`),
      join('networkxml2xmlupdatein', `${c.update}.xml`),
      ...(c.expectFailure ? [] : [join('networkxml2xmlupdateout', `${c.expected}.xml`)]),
    ];
    // libvirt reuses some test names (a passing and a failing variant); number the repeats.
    const seen = new Map<string, number>();
    return cases
      .filter((c) => needed(c).every((p) => corpusFileExists(join(corpus, p))))
      .map((c): SuiteCase => {
        const n = (seen.get(c.name) ?? 0) + 1;
        seen.set(c.name, n);
        return { name: n > 1 ? `${c.name}#${n}` : c.name, run: () => runCase(corpus, c) };
      });
  },
};

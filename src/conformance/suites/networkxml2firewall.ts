// libvirt's networkxml2firewalltest: NAME.xml gives NAME-linux.iptables and/or
// NAME-linux.nftables, the commands networkAddFirewallRules runs on a dry-run host (every
// command succeeds with empty output). The first network also creates the global chains
// (base.iptables / base.nftables), which are cut from the front of the output when present.
// Like libvirt's harness (virTestLoadFile), data files are compared with their backslash-newline
// continuations removed.
import { join } from 'node:path';
import { parseNetwork } from '../../conf/network/parse.js';
import { applyPlan } from '../../exec/apply.js';
import { FakeRunner } from '../../exec/fake.js';
import { addFirewallRulesPlan, BACKEND_NAMES, globalSetupPlan } from '../../network/firewall/backends.js';
import type { FirewallBackendName } from '../../network/firewall/plan.js';
import { corpusFileExists, readCorpusFile } from '../corpus.js';
import { compareText } from '../diff.js';
import type { Suite, SuiteCase } from '../suite.js';
import { xmlCaseFolder } from '../xmlcases.js';

const DATA_DIR = 'networkxml2firewalldata';
const EXTENSION: Record<FirewallBackendName, string> = { iptables: 'iptables', nftables: 'nftables' };

/** virTestLoadFile: a data file with its line continuations joined. */
export function unwrapContinuations(text: string): string {
  return text.replace(/\\\n/g, '');
}

async function dryRunOutput(xmlPath: string, backend: FirewallBackendName): Promise<string> {
  const def = parseNetwork(readCorpusFile(xmlPath), xmlPath);
  const runner = new FakeRunner();
  await applyPlan([...globalSetupPlan(backend), ...addFirewallRulesPlan(def, backend).groups], runner);
  return runner.calls.map((line) => `${line}\n`).join('');
}

export const networkxml2firewall: Suite = {
  name: 'networkxml2firewall',
  discover(corpus) {
    const folder = xmlCaseFolder(corpus, DATA_DIR);
    if (!folder) return undefined;
    const { dir, files } = folder;
    return folder.names.flatMap((name) =>
      BACKEND_NAMES.filter((b) => files.includes(`${name}-linux.${EXTENSION[b]}`)).map(
        (backend): SuiteCase => ({
          name: `${name} (${backend})`,
          async run() {
            let actual = await dryRunOutput(join(dir, `${name}.xml`), backend);
            const basePath = join(dir, `base.${EXTENSION[backend]}`);
            const base = corpusFileExists(basePath) ? unwrapContinuations(readCorpusFile(basePath)) : '';
            if (base !== '' && actual.startsWith(base)) actual = actual.slice(base.length);
            const expected = unwrapContinuations(readCorpusFile(join(dir, `${name}-linux.${EXTENSION[backend]}`)));
            return compareText(expected, actual);
          },
        }),
      ),
    );
  },
};

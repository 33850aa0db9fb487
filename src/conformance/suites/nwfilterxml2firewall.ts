// libvirt's nwfilterxml2firewalltest: each NAME.xml of nwfilterxml2firewalldata is instantiated
// for interface vnet0 with the harness's preset variables (filterrefs load X.xml from the same
// folder), handed to the ebiptables driver's "apply new rules" step, and the commands it would
// run are compared with NAME-linux.args after the harness drops its fixed prologue.
import { join } from 'node:path';
import { applyNewRules } from '../../backends/ebiptables/plan.js';
import { parseFilter } from '../../conf/nwfilter/parse.js';
import { instantiate } from '../../nwfilter/instantiate.js';
import type { FilterSource } from '../../nwfilter/source.js';
import { renderCommandLine } from '../../plan/command.js';
import { dryRunCommands } from '../../plan/transaction.js';
import { corpusFileExists, listCorpusDir, readCorpusFile } from '../corpus.js';
import { compareText } from '../diff.js';
import type { Suite, SuiteCase } from '../suite.js';

const DATA_DIR = 'nwfilterxml2firewalldata';
const IFNAME = 'vnet0';

/** testSetDefaultParameters: the variables every case sees. */
const PRESET_VARIABLES: ReadonlyMap<string, readonly string[]> = new Map([
  ['IPSETNAME', ['tck_test']],
  ['A', ['1.1.1.1', '2.2.2.2', '3.3.3.3', '3.3.3.3']],
  ['B', ['80', '90', '80', '80']],
  ['C', ['1080', '1090', '1100', '1110']],
]);

/**
 * The harness's commonRules: command blocks every case produces, each removed from the output
 * (first occurrence at or after the previous removal) when present as a whole.
 */
const COMMON_RULES: readonly string[] = [
  // Dropping ebtables rules
  'ebtables --concurrent -t nat -D PREROUTING -i vnet0 -j libvirt-J-vnet0\n' +
    'ebtables --concurrent -t nat -D POSTROUTING -o vnet0 -j libvirt-P-vnet0\n' +
    'ebtables --concurrent -t nat -L libvirt-J-vnet0\n' +
    'ebtables --concurrent -t nat -L libvirt-P-vnet0\n' +
    'ebtables --concurrent -t nat -F libvirt-J-vnet0\n' +
    'ebtables --concurrent -t nat -X libvirt-J-vnet0\n' +
    'ebtables --concurrent -t nat -F libvirt-P-vnet0\n' +
    'ebtables --concurrent -t nat -X libvirt-P-vnet0\n',
  // Creating ebtables chains
  'ebtables --concurrent -t nat -N libvirt-J-vnet0\n' + 'ebtables --concurrent -t nat -N libvirt-P-vnet0\n',
  ...(['iptables', 'ip6tables'] as const).flatMap((ipt) => [
    // Dropping iptables rules
    `${ipt} -w -D libvirt-out -m physdev --physdev-is-bridged --physdev-out vnet0 -g FP-vnet0\n` +
      `${ipt} -w -D libvirt-out -m physdev --physdev-out vnet0 -g FP-vnet0\n` +
      `${ipt} -w -D libvirt-in -m physdev --physdev-in vnet0 -g FJ-vnet0\n` +
      `${ipt} -w -D libvirt-host-in -m physdev --physdev-in vnet0 -g HJ-vnet0\n` +
      `${ipt} -w -F FP-vnet0\n` +
      `${ipt} -w -X FP-vnet0\n` +
      `${ipt} -w -F FJ-vnet0\n` +
      `${ipt} -w -X FJ-vnet0\n` +
      `${ipt} -w -F HJ-vnet0\n` +
      `${ipt} -w -X HJ-vnet0\n`,
    // Creating iptables chains
    `${ipt} -w -N libvirt-in\n` +
      `${ipt} -w -N libvirt-out\n` +
      `${ipt} -w -N libvirt-in-post\n` +
      `${ipt} -w -N libvirt-host-in\n` +
      `${ipt} -w -D FORWARD -j libvirt-in\n` +
      `${ipt} -w -D FORWARD -j libvirt-out\n` +
      `${ipt} -w -D FORWARD -j libvirt-in-post\n` +
      `${ipt} -w -D INPUT -j libvirt-host-in\n` +
      `${ipt} -w -I FORWARD 1 -j libvirt-in\n` +
      `${ipt} -w -I FORWARD 2 -j libvirt-out\n` +
      `${ipt} -w -I FORWARD 3 -j libvirt-in-post\n` +
      `${ipt} -w -I INPUT 1 -j libvirt-host-in\n` +
      `${ipt} -w -N FP-vnet0\n` +
      `${ipt} -w -N FJ-vnet0\n` +
      `${ipt} -w -N HJ-vnet0\n` +
      `${ipt} -w -A libvirt-out -m physdev --physdev-is-bridged --physdev-out vnet0 -g FP-vnet0\n` +
      `${ipt} -w -A libvirt-in -m physdev --physdev-in vnet0 -g FJ-vnet0\n` +
      `${ipt} -w -A libvirt-host-in -m physdev --physdev-in vnet0 -g HJ-vnet0\n` +
      `${ipt} -w -D libvirt-in-post -m physdev --physdev-in vnet0 -j ACCEPT\n` +
      `${ipt} -w -A libvirt-in-post -m physdev --physdev-in vnet0 -j ACCEPT\n`,
  ]),
  // Inserting ebtables rules
  'ebtables --concurrent -t nat -A PREROUTING -i vnet0 -j libvirt-J-vnet0\n' +
    'ebtables --concurrent -t nat -A POSTROUTING -o vnet0 -j libvirt-P-vnet0\n',
];

/** testRemoveCommonRules. */
export function removeCommonRules(output: string): string {
  let out = output;
  let offset = 0;
  for (const block of COMMON_RULES) {
    const at = out.indexOf(block, offset);
    if (at < 0) continue;
    out = out.slice(0, at) + out.slice(at + block.length);
    offset = at;
  }
  return out;
}

/** virTestLoadFile: data files wrap long commands with backslash-newline; the harness joins them. */
function unwrap(text: string): string {
  return text.replace(/\\\n/g, '');
}

/** Filters referenced by a case are the folder's X.xml files. */
function folderSource(dir: string): FilterSource {
  return {
    lookup(name) {
      const file = join(dir, `${name}.xml`);
      return /^[A-Za-z0-9_.:-]+$/.test(name) && corpusFileExists(file)
        ? parseFilter(readCorpusFile(file), file)
        : undefined;
    },
  };
}

function runCase(dir: string, name: string) {
  const file = join(dir, `${name}.xml`);
  const filter = parseFilter(readCorpusFile(file), file);
  const plan = applyNewRules(IFNAME, instantiate(filter, PRESET_VARIABLES, folderSource(dir)));
  const actual = removeCommonRules(
    dryRunCommands(plan)
      .map((c) => `${renderCommandLine(c.argv)}\n`)
      .join(''),
  );
  return compareText(unwrap(readCorpusFile(join(dir, `${name}-linux.args`))), actual);
}

export const nwfilterxml2firewall: Suite = {
  name: 'nwfilterxml2firewall',
  discover(corpus: string): SuiteCase[] | undefined {
    const files = listCorpusDir(corpus, DATA_DIR);
    if (!files) return undefined;
    const dir = join(corpus, DATA_DIR);
    return files
      .filter((f) => f.endsWith('-linux.args'))
      .map((f) => f.slice(0, -'-linux.args'.length))
      .filter((name) => files.includes(`${name}.xml`))
      .map((name) => ({ name, run: () => runCase(dir, name) }));
  },
};

// libvirt's networkxml2conftest: NAME.xml gives the dnsmasq configuration NAME.conf and, exactly
// when the network defines DHCP hosts, the hosts file NAME.hostsfile. dnsmasq state directory
// /var/lib/libvirt/dnsmasq, capabilities of "Dnsmasq version 2.67", no pid file.
import { join } from 'node:path';
import { parseNetwork } from '../../conf/network/parse.js';
import { DEFAULT_STATE_DIR, dnsmasqFiles, parseDnsmasqVersion } from '../../network/dnsmasq/config.js';
import { corpusFileExists, readCorpusFile } from '../corpus.js';
import { compareText } from '../diff.js';
import type { CaseResult, Suite, SuiteCase } from '../suite.js';
import { xmlCaseFolder } from '../xmlcases.js';

const DATA_DIR = 'networkxml2confdata';
const HARNESS_DNSMASQ = 'Dnsmasq version 2.67';

function runCase(dir: string, name: string): CaseResult {
  const xmlPath = join(dir, `${name}.xml`);
  const def = parseNetwork(readCorpusFile(xmlPath), xmlPath);
  const files = dnsmasqFiles(def, { stateDir: DEFAULT_STATE_DIR, caps: parseDnsmasqVersion(HARNESS_DNSMASQ) });
  const conf = compareText(readCorpusFile(join(dir, `${name}.conf`)), files.conf);
  if (!conf.ok) return conf;
  const hostsPath = join(dir, `${name}.hostsfile`);
  if (!corpusFileExists(hostsPath)) {
    return files.hostsfile === undefined
      ? { ok: true }
      : { ok: false, detail: `no ${name}.hostsfile, but hosts were produced:\n${files.hostsfile}` };
  }
  if (files.hostsfile === undefined)
    return { ok: false, detail: `${name}.hostsfile exists but no DHCP hosts were produced` };
  return compareText(readCorpusFile(hostsPath), files.hostsfile);
}

export const networkxml2conf: Suite = {
  name: 'networkxml2conf',
  discover(corpus) {
    const folder = xmlCaseFolder(corpus, DATA_DIR);
    if (!folder) return undefined;
    return folder.names
      .filter((name) => folder.files.includes(`${name}.conf`))
      .map((name): SuiteCase => ({ name, run: () => runCase(folder.dir, name) }));
  },
};

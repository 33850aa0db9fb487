// The daemon in a test namespace with the real dnsmasq: a value that would start a dnsmasq
// option of its own (dhcp-script=, which dnsmasq runs as root) is refused at net-define,
// net-create and net-update with exit 2 and its location, and nothing is written: no file under
// the state root changes, the running dnsmasq keeps its configuration and process. And
// <dnsmasq:options> reach dnsmasq as libvirt passes them, and come back in net-dumpxml.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { canUseNetns } from '../support/netns.js';
import { cli, daemonFixture, natNetwork, openToOthers, startDaemon, stopAll } from './process.js';
import { processRuns } from '../../src/util/process.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const NS = 'http://libvirt.org/schemas/network/dnsmasq/1.0';

/** Every file under `dir` with its content: what the daemon has written. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.set(p, readFileSync(p, 'latin1'));
    }
  };
  walk(dir);
  return out;
}

/** The state root once the daemon's delayed writes (compiled nwfilter ports, ...) are done. */
async function settled(dir: string): Promise<Map<string, string>> {
  let last = snapshot(dir);
  for (let quiet = 0, i = 0; quiet < 3 && i < 40; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const now = snapshot(dir);
    quiet = isDeepStrictEqual(now, last) ? quiet + 1 : 0;
    last = now;
  }
  return last;
}

const network = natNetwork;

describe('dnsmasq values through the daemon', { skip }, () => {
  after(() => stopAll());

  it('refuses a hostile define, create and net-update with its location, writing nothing', async (t) => {
    const { lab, ns, root, file } = daemonFixture(t, 'v');
    await startDaemon(ns, root);
    openToOthers(root);
    // what dhcp-script= would run: dnsmasq calls it at start ("init", as --leasefile-ro asks)
    const ran = file('evil-ran', '');
    const evil = file('evil.sh', `#!/bin/sh\necho "$@" >> ${ran}\n`);
    chmodSync(evil, 0o755);
    const refused = (args: string[], where: RegExp) => {
      const r = cli(root, args);
      // virsh's exit code and two-line form: what failed, then the reason, each on one line
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      const [failed, reason, ...rest] = r.stderr.trim().split('\n');
      assert.match(failed!, /^error: Failed to /);
      assert.match(reason!, where);
      assert.match(reason!, /^error: .*cannot go into dnsmasq's/);
      assert.deepEqual(rest, [], 'the error spans more lines');
    };

    const before = await settled(root);
    const definePath = file(
      'define.xml',
      network('evil1', 'vwbr0', '192.168.160', `  <domain name='x&#10;dhcp-script=${evil}'/>\n`),
    );
    refused(
      ['net-define', definePath],
      new RegExp(`${definePath}:8:\\d+ <domain> attribute 'name': domain name 'x\\\\x0adhcp-script=`),
    );
    const createPath = file(
      'create.xml',
      network('evil2', 'vwbr1', '192.168.161', `  <dns><txt name='t' value='v&#10;dhcp-script=${evil}'/></dns>\n`),
    );
    refused(['net-create', createPath], new RegExp(`${createPath}:8:\\d+ <txt> attribute 'value'`));
    assert.deepEqual(snapshot(root), before, 'a refused definition changed the state root');
    assert.equal(cli(root, ['net-list', '--all']).stdout.includes('evil'), false);
    assert.notEqual(lab.exec(ns, ['ip', 'link', 'show', 'vwbr1'], false).status, 0, 'the refused network got a bridge');

    // a running network: net-update of every kind of scope refuses, dnsmasq runs on unchanged
    const good = file('good.xml', network('good', 'vwbr2', '192.168.162'));
    assert.equal(cli(root, ['net-define', good]).status, 0);
    assert.equal(cli(root, ['net-start', 'good']).status, 0);
    const pid = readFileSync(join(root, 'run/virtwall/network/good.pid'), 'utf8').trim();
    const running = await settled(root);
    const txt = `<txt name='t' value='v&#10;dhcp-script=${evil}'/>`;
    for (const scope of [[], ['--live'], ['--config'], ['--live', '--config']]) {
      refused(
        ['net-update', 'good', 'add-last', 'dns-txt', txt, ...scope],
        /^error: update:1:\d+ <txt> attribute 'value': DNS TXT record value 'v\\x0adhcp-script=/,
      );
    }
    refused(
      [
        'net-update',
        'good',
        'add-last',
        'ip-dhcp-host',
        `<host mac='52:54:00:00:00:01' name='h,ignore' ip='192.168.162.5'/>`,
      ],
      /update:1:\d+ <host> attribute 'name'/,
    );
    refused(
      [
        'net-update',
        'good',
        'add-last',
        'dns-host',
        `<host ip='192.168.162.6'><hostname>a&#10;192.168.162.7 b</hostname></host>`,
      ],
      /update:1:\d+ <hostname>: DNS host name/,
    );
    assert.deepEqual(snapshot(root), running, 'a refused update changed the state root');
    assert.equal(readFileSync(join(root, 'run/virtwall/network/good.pid'), 'utf8').trim(), pid);
    assert.ok(processRuns(Number(pid)), 'dnsmasq was stopped');
    assert.equal(readFileSync(ran, 'utf8'), '', 'the injected dhcp-script ran');
    assert.equal(cli(root, ['net-destroy', 'good']).status, 0);
  });

  it('passes <dnsmasq:options> to dnsmasq and shows them as libvirt does', async (t) => {
    const { lab, ns, root, file } = daemonFixture(t, 'o');
    await startDaemon(ns, root);
    openToOthers(root);
    // the namespace declared on <dnsmasq:options> itself, which used to drop the options
    const options = `  <dnsmasq:options xmlns:dnsmasq='${NS}'>
    <dnsmasq:option value='address=/opt.test/192.168.163.77'/>
    <dnsmasq:option value='txt-record=why.test,"one, string"'/>
  </dnsmasq:options>
`;
    const path = file(
      'opt.xml',
      network('opt', 'vwbr3', '192.168.163', options)
        .replace('<network>', '<network>\n  <uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>')
        .replace("stp='off'/>", "stp='off'/>\n  <mac address='52:54:00:16:31:77'/>"),
    );
    assert.equal(cli(root, ['net-define', path]).status, 0);
    // libvirt's layout (networkxml2xmlout/dnsmasq-options.xml): declaration on <network>, options
    // last; then virsh's blank line
    assert.equal(
      cli(root, ['net-dumpxml', 'opt', '--inactive']).stdout,
      `<network xmlns:dnsmasq='${NS}'>
  <name>opt</name>
  <uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>
  <forward mode='nat'/>
  <bridge name='vwbr3' stp='off' delay='0'/>
  <mac address='52:54:00:16:31:77'/>
  <ip address='192.168.163.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.163.10' end='192.168.163.20'/>
    </dhcp>
  </ip>
  <dnsmasq:options>
    <dnsmasq:option value='address=/opt.test/192.168.163.77'/>
    <dnsmasq:option value='txt-record=why.test,&quot;one, string&quot;'/>
  </dnsmasq:options>
</network>

`,
    );
    assert.equal(cli(root, ['net-start', 'opt']).status, 0);
    const conf = readFileSync(join(root, 'run/virtwall/network/opt.conf'), 'utf8');
    assert.match(conf, /\naddress=\/opt\.test\/192\.168\.163\.77\ntxt-record=why\.test,"one, string"\n$/);

    // what a guest on the bridge gets from this dnsmasq
    const guest = lab.netns('g');
    lab.veth(ns, 'vnet1', guest, 'eth0', { bridge: 'vwbr3' });
    lab.exec(guest, ['ip', 'addr', 'add', '192.168.163.50/24', 'dev', 'eth0']);
    const dig = (...q: string[]) =>
      lab.exec(guest, ['dig', '+short', '+time=2', '+tries=2', '@192.168.163.1', ...q], false).stdout.trim();
    assert.equal(dig('opt.test'), '192.168.163.77');
    assert.equal(dig('why.test', 'TXT'), '"one, string"');
    assert.equal(cli(root, ['net-destroy', 'opt']).status, 0);
  });
});

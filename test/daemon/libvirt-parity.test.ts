// virtwalld in a namespace this test creates, checked against what libvirt does: the bridge
// keeps the MAC generated at define while guests come and go, bridge names are not shared,
// virbrN skips devices that exist; filter loops and input that is not UTF-8 are refused with
// their place, from the CLI and over the API.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { cli, cliOk, daemonFixture as fixture, startDaemon, stopAll } from './process.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';

const network = (name: string, bridge: string) => `<network>
  <name>${name}</name>
  <forward mode='nat'/>
  ${bridge ? `<bridge name='${bridge}'/>` : ''}
  <ip address='192.168.150.1' netmask='255.255.255.0'/>
</network>
`;

const port = (i: number, mac: string) => `<networkport>
  <uuid>5d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a5${i}</uuid>
  <owner><name>guest${i}</name><uuid>11111111-2222-3333-4444-55555555555${i}</uuid></owner>
  <mac address='${mac}'/>
</networkport>
`;

describe('networks in a namespace, as libvirt defines and starts them', { skip }, () => {
  after(() => stopAll());

  it('the bridge has the MAC generated at define, and keeps it while guests join and leave', async (t) => {
    const { lab, ns, root, file } = fixture(t);
    await startDaemon(ns, root);
    const ok = (args: string[]) => cliOk(root, args);
    ok(['net-define', file('n.xml', network('macnet', 'vwbr5'))]);
    const mac = /<mac address='(52:54:00:[0-9a-f:]{8})'\/>/.exec(ok(['net-dumpxml', 'macnet', '--inactive']))?.[1];
    assert.ok(mac, 'a MAC generated at define');
    ok(['net-start', 'macnet']);
    const bridgeMac = () => lab.exec(ns, ['cat', '/sys/class/net/vwbr5/address']).stdout.trim();
    assert.equal(bridgeMac(), mac);
    // guests whose TAP MACs sort below and above it (a bridge without a set MAC takes the lowest)
    const taps = [
      ['vnet1', '02:00:00:00:00:01'],
      ['vnet2', 'fe:00:00:00:00:02'],
    ] as const;
    const uuids: string[] = [];
    taps.forEach(([tap, tapMac], i) => {
      lab.exec(ns, ['ip', 'link', 'add', tap, 'address', tapMac, 'type', 'veth', 'peer', 'name', `g${i}`]);
      lab.exec(ns, ['ip', 'link', 'set', tap, 'up']);
      const out = ok(['net-port-create', 'macnet', file(`p${i}.xml`, port(i, `52:54:00:aa:bb:0${i}`)), '--tap', tap]);
      uuids.push(/Network port (\S+) created/.exec(out)![1]!);
      assert.equal(bridgeMac(), mac, `after ${tap} joined`);
    });
    for (const uuid of uuids) {
      ok(['net-port-delete', 'macnet', uuid]);
      assert.equal(bridgeMac(), mac, `after port ${uuid} left`);
    }
    ok(['net-destroy', 'macnet']);
    ok(['net-start', 'macnet']);
    assert.equal(bridgeMac(), mac, 'the same MAC after a restart of the network');
    ok(['net-destroy', 'macnet']);
  });

  it("refuses another network's bridge name at define and create; virbrN skips existing devices", async (t) => {
    const { lab, ns, root, file } = fixture(t);
    await startDaemon(ns, root);
    assert.equal(cli(root, ['net-define', file('a.xml', network('a', 'vwbr6'))]).status, 0);
    for (const cmd of ['net-define', 'net-create']) {
      const r = cli(root, [cmd, file('b.xml', network('b', 'vwbr6'))]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /b\.xml <bridge> attribute 'name': bridge name 'vwbr6' already in use\./);
    }
    // virbr0 exists in the daemon's namespace without being a network's: the next free name is virbr1
    lab.exec(ns, ['ip', 'link', 'add', 'virbr0', 'type', 'bridge']);
    assert.equal(cli(root, ['net-define', file('c.xml', network('c', ''))]).status, 0);
    assert.match(cli(root, ['net-dumpxml', 'c']).stdout, /<bridge name='virbr1' /);
  });

  it('refuses to start what it cannot run, saying why, with nothing created', async (t) => {
    const { lab, ns, root, file } = fixture(t);
    await startDaemon(ns, root);
    const links = () => lab.exec(ns, ['ip', '-o', 'link', 'show']).stdout;
    const before = links();
    const passthrough = (name: string) =>
      file(
        `${name}.xml`,
        `<network><name>${name}</name><forward mode='passthrough'><interface dev='eth1'/></forward></network>`,
      );
    assert.equal(cli(root, ['net-define', passthrough('pt')]).status, 0, 'define accepts what libvirt accepts');
    for (const [args, name] of [
      [['net-start', 'pt'], 'pt'],
      [['net-create', passthrough('pt2')], 'pt2'],
    ] as const) {
      const r = cli(root, args);
      assert.equal(r.status, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`unsupported configuration: forward mode='passthrough' of network '${name}' is not supported`),
      );
    }
    const zone = file(
      'z.xml',
      "<network><name>z</name><forward mode='nat'/><bridge name='vwbr8' zone='libvirt'/><ip address='192.168.151.1' prefix='24'/></network>",
    );
    const r = cli(root, ['net-create', zone]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /zone libvirt requested for network z but firewalld is not active/);
    assert.equal(links(), before);
  });
});

/** POSTs raw bytes (not necessarily UTF-8) to the daemon's API. */
function postRaw(root: string, path: string, body: Buffer): Promise<{ status: number; json: { error?: string } }> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', 'content-length': body.length };
    const req = request(
      { socketPath: join(root, 'run/virtwall/virtwall-sock'), method: 'POST', path, headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('input refused as libvirt refuses it, with its place', { skip }, () => {
  after(() => stopAll());

  it('XML that is not proper UTF-8: from a file, over the API; filter loops at define', async (t) => {
    const { ns, root, file } = fixture(t);
    await startDaemon(ns, root);
    const latin1 = file('latin1.xml', '');
    writeFileSync(
      latin1,
      Buffer.concat([
        Buffer.from('<network>\n  <name>caf'),
        Buffer.from([0xe9]),
        Buffer.from("</name>\n  <bridge name='vwbr7'/>\n</network>\n"),
      ]),
    );
    for (const cmd of ['net-define', 'net-create']) {
      const r = cli(root, [cmd, latin1]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `${latin1.replace(/[/.]/g, '\\$&')}:2:12: Input is not proper UTF-8, indicate encoding ! Bytes: 0xE9`,
        ),
      );
    }
    // the same bytes inside a JSON body: not turned into U+FFFD on the way in
    const body = Buffer.concat([
      Buffer.from('{"file":"body.xml","xml":"<filter name=\'caf'),
      Buffer.from([0xe9]),
      Buffer.from('\'/>"}'),
    ]);
    const api = await postRaw(root, '/nwfilters', body);
    assert.equal(api.status, 400);
    assert.equal(api.json.error, 'body.xml:1:18: Input is not proper UTF-8, indicate encoding ! Bytes: 0xE9');
    assert.equal(cli(root, ['net-list', '--all']).stdout.includes('caf'), false);
    assert.equal(cli(root, ['nwfilter-list']).stdout.includes('caf'), false);
    // what an editor wrote in Latin-1 (nwfilter-edit)
    const editor = file('latin1-editor.sh', '#!/bin/sh\nprintf \'<!-- caf\\351 -->\\n\' >> "$1"\n');
    const edit = cli(root, ['nwfilter-edit', 'allow-arp'], { env: { EDITOR: `sh ${editor}` } });
    assert.equal(edit.status, 1, edit.stderr);
    assert.match(edit.stderr, /Input is not proper UTF-8, indicate encoding ! Bytes: 0xE9/);

    const loop = file('loop.xml', "<filter name='selfref' chain='root'>\n  <filterref filter='selfref'/>\n</filter>\n");
    const r = cli(root, ['nwfilter-define', loop]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `${loop.replace(/[/.]/g, '\\$&')}:2:\\d+ <filterref> attribute 'filter': filter would introduce a loop: selfref -> selfref`,
      ),
    );
  });
});

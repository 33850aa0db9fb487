// run-tests: alone (times reads during a large bind: each under 2 s)
// The daemon's API under hostile or careless clients, on the real kernel in namespaces this test
// creates: only mutual TLS on the network, no browser-made request, no state root others can
// write, request bodies and state files checked by schema, a flood of idle connections that
// cannot lock the operator out, and no helper process outliving a killed daemon.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { canUseNetns, type NetnsLab } from '../support/netns.js';
import { api, BIN, cli, daemonFixture as fixture, descendants, kill9, nft, startDaemon, stopAll } from './process.js';
import { processRuns } from '../../src/util/process.js';
import { waitFor } from '../../src/util/wait-for.js';
import { setTimeout as sleep } from 'node:timers/promises';

const skip = canUseNetns() ? false : 'needs root and ip netns';

const network = (name: string) => `<network><name>${name}</name><bridge name='vw${name}'/></network>`;

function conf(root: string, text: string): void {
  mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
  writeFileSync(join(root, 'etc/virtwall/virtwall.conf'), text);
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA and a key pair signed by it (`ext`: extensions of the certificate). */
function issue(dir: string, ca: string, name: string, cn: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(
    [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  );
}

function makeCa(dir: string, name: string): void {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
    ],
    dir,
  );
}

/** libvirt's PKI layout under `root` (CA, server, client) and, in `dir`, a client of another CA. */
function makePki(root: string, dir: string): void {
  makeCa(dir, 'ca');
  issue(dir, 'ca', 'server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  issue(dir, 'ca', 'client', 'admin', 'extendedKeyUsage=clientAuth\n');
  makeCa(dir, 'rogue-ca');
  issue(dir, 'rogue-ca', 'rogue', 'admin', 'extendedKeyUsage=clientAuth\n');
  const place = (from: string, to: string) => {
    mkdirSync(join(root, to, '..'), { recursive: true });
    writeFileSync(join(root, to), readFileSync(join(dir, from)), { mode: 0o600 });
  };
  place('ca.pem', 'etc/pki/CA/cacert.pem');
  place('server.pem', 'etc/pki/libvirt/servercert.pem');
  place('server.key', 'etc/pki/libvirt/private/serverkey.pem');
  place('client.pem', 'etc/pki/libvirt/clientcert.pem');
  place('client.key', 'etc/pki/libvirt/private/clientkey.pem');
}

/** The CLI inside the namespace (where the daemon's TLS listener is). */
function nsCli(lab: NetnsLab, ns: string, root: string, args: string[]) {
  return lab.exec(ns, [process.execPath, BIN, '--root', root, ...args], false);
}

/** A network listing as the daemon has it. */
const networkNames = (root: string) =>
  (JSON.parse(cli(root, ['net-list', '--all', '--json']).stdout) as { name: string }[]).map((n) => n.name);

describe('the daemon API against hostile clients', { skip }, () => {
  after(() => stopAll());

  it('serves the network only over mutual TLS; no certificate, another CA, plain HTTP and browser-style requests change nothing', async (t) => {
    const { lab, ns, root, file } = fixture(t);
    const dir = join(file('x', ''), '..');
    makePki(root, dir);
    conf(root, 'listen_tls = 1\n');
    const d = await startDaemon(ns, root);
    assert.match(d.log(), /"tls":"127.0.0.1:16591"/);
    const uri = 'tls://127.0.0.1:16591';
    const ok = nsCli(lab, ns, root, ['--connect', uri, 'net-define', file('good.xml', network('good'))]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(nsCli(lab, ns, root, ['--connect', uri, 'net-list', '--all']).stdout, /good/);

    const body = JSON.stringify({ xml: network('evil') });
    const curl = (...args: string[]) =>
      lab.exec(ns, ['curl', '-s', '-o', '/dev/stdout', '-w', '\n%{http_code}', '--max-time', '5', ...args], false);
    const post = ['-X', 'POST', '--data', body];
    const json = ['-H', 'content-type: application/json'];
    const https = 'https://127.0.0.1:16591/networks';
    const attempts = {
      'no client certificate': curl('--cacert', join(dir, 'ca.pem'), ...json, ...post, https),
      'a certificate of another CA': curl(
        '--cacert',
        join(dir, 'ca.pem'),
        '--cert',
        join(dir, 'rogue.pem'),
        '--key',
        join(dir, 'rogue.key'),
        ...json,
        ...post,
        https,
      ),
      'plain HTTP': curl(...json, ...post, 'http://127.0.0.1:16591/networks'),
      'a web page (Origin)': curl(
        '--cacert',
        join(dir, 'ca.pem'),
        '--cert',
        join(dir, 'client.pem'),
        '--key',
        join(dir, 'client.key'),
        ...json,
        '-H',
        'Origin: http://evil.example',
        ...post,
        https,
      ),
      'a web form (text/plain)': curl(
        '--cacert',
        join(dir, 'ca.pem'),
        '--cert',
        join(dir, 'client.pem'),
        '--key',
        join(dir, 'client.key'),
        '-H',
        'content-type: text/plain',
        ...post,
        https,
      ),
    };
    for (const [what, r] of Object.entries(attempts)) assert.doesNotMatch(r.stdout, /\n200$/, `${what}: ${r.stdout}`);
    assert.match(attempts['a web page (Origin)'].stdout, /\n403$/);
    assert.match(attempts['a web form (text/plain)'].stdout, /\n415$/);
    // the same request with the client certificate goes through: the refusals above were the checks
    const control = curl(
      '--cacert',
      join(dir, 'ca.pem'),
      '--cert',
      join(dir, 'client.pem'),
      '--key',
      join(dir, 'client.key'),
      ...json,
      '-X',
      'POST',
      '--data',
      JSON.stringify({ xml: network('ctl') }),
      https,
    );
    assert.match(control.stdout, /\n200$/, control.stdout + control.stderr);

    // the Unix socket takes no browser-made request either
    assert.equal((await api(root, 'POST', '/networks', body, { 'content-type': 'text/plain' })).status, 415);
    assert.equal((await api(root, 'POST', '/networks', body, { origin: 'http://evil.example' })).status, 403);
    assert.equal((await api(root, 'POST', '/networks', body, { 'sec-fetch-site': 'cross-site' })).status, 403);
    assert.deepEqual(networkNames(root), ['ctl', 'good']);
  });

  it('refuses to start with a listener without authentication or a state root others can write', async (t) => {
    const { ns, root } = fixture(t);
    conf(root, 'listen_tcp = 1\n');
    await assert.rejects(startDaemon(ns, root), /listen_tcp.*no unauthenticated TCP listener; use listen_tls/);
    conf(root, '');
    for (const sub of ['', 'etc', 'run/virtwall']) {
      mkdirSync(join(root, sub), { recursive: true });
      chmodSync(join(root, sub), 0o777);
      await assert.rejects(startDaemon(ns, root), /refusing to start: .* is writable by other users/, sub);
      chmodSync(join(root, sub), 0o755);
    }
    await startDaemon(ns, root);
    assert.equal(cli(root, ['net-list']).status, 0);
  });

  it('checks every request body against its schema and answers a malformed path with 400', async (t) => {
    const { ns, root, file } = fixture(t);
    await startDaemon(ns, root);
    assert.equal(cli(root, ['net-define', file('n.xml', network('n'))]).status, 0);
    assert.equal(cli(root, ['net-autostart', 'n']).status, 0);
    const yes = await api(root, 'PUT', '/networks/n/autostart', JSON.stringify({ enabled: 'yes' }));
    assert.equal(yes.status, 400);
    assert.match(yes.json.error!, /field 'enabled'.*boolean/);
    assert.match(cli(root, ['net-info', 'n']).stdout, /Autostart: +yes/, 'a wrongly typed value is not taken as false');
    assert.equal((await api(root, 'GET', '/networks/%E0%A4%A', '')).status, 400);
    assert.equal((await api(root, 'POST', '/networks', JSON.stringify({ xml: network('m'), extra: 1 }))).status, 400);
    assert.equal(
      (
        await api(
          root,
          'POST',
          '/networks/n/update',
          JSON.stringify({ command: 'add-last', section: 'ip-dhcp-host', xml: '<host/>', parentIndex: 'x' }),
        )
      ).status,
      400,
    );
    assert.equal(
      (
        await api(
          root,
          'POST',
          '/networks/n/ports',
          JSON.stringify({ xml: '<networkport/>', tap: 'vnet0', filter: { name: 'f', params: { IP: '10.0.0.1' } } }),
        )
      ).status,
      400,
    );
    assert.deepEqual(networkNames(root), ['n']);
  });

  it('sets a corrupt state file aside as NAME.corrupt-TIMESTAMP, logs it and starts', async (t) => {
    const { ns, root, file } = fixture(t);
    const first = await startDaemon(ns, root);
    assert.equal(cli(root, ['net-define', file('n.xml', network('n'))]).status, 0);
    await kill9(first);
    const run = join(root, 'run/virtwall');
    const corrupt = {
      [join(run, 'ports/5d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a5b.json')]: JSON.stringify({
        uuid: '5d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a5b',
        network: 'n',
        tap: 'vnet0;reboot',
        macFilter: false,
        xml: '',
      }),
      [join(run, 'nwfilter-binding/vnet1.xml')]: '<filterbinding><portdev',
      [join(run, 'network/n.status.json')]: '{"name": "n", "files": ["/etc/shadow"]}',
      [join(root, 'var/lib/virtwall/ip-learning.json')]: '{"version": 1, "ports": "many"}',
    };
    for (const [f, text] of Object.entries(corrupt)) writeFileSync(f, text);
    const d = await startDaemon(ns, root);
    for (const [f, text] of Object.entries(corrupt)) {
      assert.equal(existsSync(f), false, f);
      const aside = readdirSync(join(f, '..')).filter((n) => n.startsWith(`${f.split('/').at(-1)}.corrupt-`));
      assert.equal(aside.length, 1, f);
      assert.match(aside[0]!, /\.corrupt-\d{8}T\d{9}Z$/);
      assert.equal(readFileSync(join(f, '..', aside[0]!), 'utf8'), text, 'kept as it was');
      assert.match(
        d.log(),
        new RegExp(`"file":"${f}","movedTo":"${f}\\.corrupt-[^"]+","err":"[^"]+","msg":"corrupt state file set aside"`),
      );
    }
    assert.equal(cli(root, ['net-info', 'n']).status, 0, 'the definitions are served');
    assert.equal(existsSync('/etc/shadow'), true);
    // the port of the lost binding is not left open: it drops everything until bound again
    assert.match(nft(ns, 'list ruleset').stdout, /"vnet1"/);
    const again = file(
      'vnet1.xml',
      "<filterbinding><owner><name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner><portdev name='vnet1'/><mac address='52:54:00:00:00:02'/><filterref filter='allow-arp'/></filterbinding>",
    );
    assert.equal(cli(root, ['nwfilter-binding-create', again]).status, 0);
    assert.equal(cli(root, ['nwfilter-binding-delete', 'vnet1']).status, 0);
    assert.doesNotMatch(nft(ns, 'list ruleset').stdout, /vnet1/);
  });

  it('keeps answering reads while a binding with 20,000 values is applied, and refuses a rule past the limit', async (t) => {
    const { lab, ns, root, file } = fixture(t);
    await startDaemon(ns, root);
    lab.exec(ns, ['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'g0']);
    const binding = (dev: string, n: number) => {
      const values = Array.from(
        { length: n },
        (_, i) => `<parameter name='IP' value='10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}'/>`,
      ).join('');
      return file(
        `${dev}.xml`,
        `<filterbinding><owner><name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner><portdev name='${dev}'/><mac address='52:54:00:00:00:01'/><filterref filter='clean-traffic'>${values}</filterref></filterbinding>`,
      );
    };
    const big = spawn(process.execPath, [BIN, '--root', root, 'nwfilter-binding-create', binding('vnet0', 20_000)], {
      stdio: 'ignore',
    });
    t.after(() => big.kill('SIGKILL'));
    let status: number | null | undefined;
    big.on('exit', (code) => (status = code));
    const latencies: number[] = [];
    for (const t0 = Date.now(); status === undefined && Date.now() - t0 < 60_000; ) {
      const t1 = Date.now();
      assert.equal((await api(root, 'GET', '/networks', '')).status, 200);
      latencies.push(Date.now() - t1);
      await sleep(20);
    }
    assert.equal(status, 0);
    assert.ok(latencies.length >= 3, `reads during the bind: ${latencies.length}`);
    assert.ok(Math.max(...latencies) < 2000, `slowest read ${Math.max(...latencies)} ms`);
    assert.match(nft(ns, 'list ruleset').stdout, /10\.0\.78\.31/, 'the values are applied');

    const over = cli(root, ['nwfilter-binding-create', binding('vnet1', 20_001)]);
    assert.equal(over.status, 1, over.stderr);
    assert.match(over.stderr, /the values of IP give 20001 combinations for one rule; at most 20000 are allowed/);
    assert.doesNotMatch(nft(ns, 'list ruleset').stdout, /vnet1/);
  });

  it('caps connections, closes idle ones after idle_timeout and still lets the CLI in', async (t) => {
    const { ns, root } = fixture(t);
    conf(root, 'max_clients = 20\nidle_timeout = 2\n');
    const d = await startDaemon(ns, root);
    const fds = () => readdirSync(`/proc/${d.child.pid}/fd`).length;
    const before = fds();
    const socket = join(root, 'run/virtwall/virtwall-sock');
    const sockets: Socket[] = [];
    const closed: Promise<void>[] = [];
    for (let i = 0; i < 3000; i++) {
      const s = connect(socket).on('error', () => undefined);
      sockets.push(s);
      closed.push(new Promise((r) => s.once('close', () => r())));
    }
    t.after(() => {
      for (const s of sockets) s.destroy();
    });
    await Promise.all(
      sockets.map((s) => new Promise((r) => (s.connecting ? s.once('connect', r).once('close', r) : r(undefined)))),
    );
    const t0 = Date.now();
    const r = cli(root, ['net-list']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Date.now() - t0 < 5000, 'the CLI is served at once');
    assert.ok(fds() <= before + 21, `the daemon holds ${fds() - before} connections`);
    const t1 = Date.now();
    await Promise.race([Promise.all(closed), sleep(6000)]);
    const open = sockets.filter((s) => !s.destroyed && !s.readableEnded).length;
    assert.equal(open, 0, `idle connections still open ${Date.now() - t1} ms later`);
  });

  it('takes its helpers (tcpdump) with it when killed, and a CLI request it dies in says so', async (t) => {
    const { lab, ns, root, file } = fixture(t);
    const d = await startDaemon(ns, root);
    lab.exec(ns, ['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'g0']);
    lab.exec(ns, ['ip', 'link', 'set', 'vnet0', 'up']);
    // clean-traffic without IP learns the address from the port's traffic: tcpdump
    const b = file(
      'b.xml',
      "<filterbinding><owner><name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner><portdev name='vnet0'/><mac address='52:54:00:00:00:01'/><filterref filter='clean-traffic'/></filterbinding>",
    );
    assert.equal(cli(root, ['nwfilter-binding-create', b]).status, 0);
    const helpers = await waitFor(
      () => {
        const now = descendants(d.child.pid!);
        return now.filter((p) => p.comm === 'tcpdump').length >= 2 && now;
      },
      { what: "the daemon's two tcpdumps", detail: () => JSON.stringify(descendants(d.child.pid!)) },
    );
    assert.equal(helpers.filter((p) => p.comm === 'tcpdump').length, 2, JSON.stringify(helpers));
    await kill9(d);
    await waitFor(() => !helpers.some((p) => processRuns(p.pid)), {
      what: 'no helper to outlive the daemon',
      detail: () => JSON.stringify(helpers.filter((p) => processRuns(p.pid))),
    });

    const crashing = await startDaemon(ns, root, { VIRTWALL_CRASH_AT: 'write:nwfilter:before' });
    const r = cli(root, [
      'nwfilter-define',
      file(
        'f.xml',
        "<filter name='f'><rule action='drop' direction='out' priority='500'><tcp dstportstart='1'/></rule></filter>",
      ),
    ]);
    await crashing.exited;
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /the daemon at .* closed the connection before answering POST \/nwfilters \(it may have stopped or died/,
    );
  });
});

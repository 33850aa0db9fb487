// The bundled CLI (scripts/build.mjs -> dist/cli/) against the sources it was built from, in a
// copy of the package built once: the same commands through the bundle and through src/ (tsx)
// print the same bytes and exit alike; and a bind or unbind loads only the code it runs (no XML
// parser, RelaxNG or libxml2's wasm, daemon, RPC server or backend), seen from the modules the
// process loaded (a loader hook, test/support/module-log.mjs) mapped to their sources through
// the build's metafile. A schema check is the control: it does load libxml2.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(import.meta.dirname, '../..');
const MODULE_LOG = join(repo, 'test/support/module-log.mjs');
const copy = mkdtempSync(join(tmpdir(), 'vwt-bundle-'));
const root = join(copy, 'state');
const BINDING = `<filterbinding>
  <owner><name>g0</name><uuid>11111111-2222-3333-4444-000000000000</uuid></owner>
  <portdev name='vnet0'/>
  <mac address='52:54:00:00:00:01'/>
  <filterref filter='clean-traffic'><parameter name='IP' value='10.0.0.1'/></filterref>
</filterbinding>
`;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The package's own files and packages the process loaded, relative to the copy. */
  loaded: string[];
}

/** Runs the CLI in the copy (not blocking: the fake daemon below answers from this process). */
async function run(args: readonly string[], input?: string): Promise<Run> {
  const log = join(copy, 'modules.log');
  writeFileSync(log, '');
  const child = spawn(process.execPath, ['--import', MODULE_LOG, 'bin/virtwall.js', ...args], {
    cwd: copy,
    env: { ...process.env, VWT_MODULE_LOG: log },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(input ?? '');
  const status = await new Promise<number | null>((r) => child.on('close', r));
  const loaded = readFileSync(log, 'utf8')
    .split('\n')
    .filter((u) => u.startsWith('file:'))
    .map((u) => relative(copy, fileURLToPath(u)));
  return { status, stdout, stderr, loaded };
}

/** Makes bin/ run the sources (a source newer than the build) or the build again. */
function runSources(yes: boolean): void {
  // the build's stamp hashes the sources' contents (scripts/source-stamp.mjs): a changed byte sends bin/ to src/
  const file = join(copy, 'src/errors.ts');
  const text = readFileSync(file, 'utf8').replace(/\n\/\/ edited by bundle\.test\n$/, '\n');
  writeFileSync(file, yes ? `${text}// edited by bundle.test\n` : text);
}

/** Commands whose output must not depend on how the CLI was loaded (offline, or failing to reach a daemon). */
const COMMANDS: { args: string[]; input?: string }[] = [
  { args: ['--help'] },
  { args: ['--version'] },
  { args: ['help', 'nwfilter-binding-create'] },
  { args: ['net-update', '--help'] },
  { args: ['no-such-command'] },
  { args: ['nwfilter-binding-create'] },
  { args: ['validate', 'filters/clean-traffic.xml'] },
  { args: ['validate', '-'], input: `<filter name='x'><rule action='drop' direction='bogus'/></filter>` },
  { args: ['format', 'test/corpus/networkxml2xmlin/nat-network.xml'] },
  {
    args: [
      'nwfilter-compile',
      'filters/clean-traffic.xml',
      '--ifname',
      'vnet0',
      '--mac',
      '52:54:00:00:00:01',
      '--param',
      'IP=10.0.0.1',
    ],
  },
  {
    args: [
      'nwfilter-compile',
      'filters/clean-traffic.xml',
      '--ifname',
      'vnet0',
      '--mac',
      '52:54:00:00:00:01',
      '--param',
      'IP=10.0.0.1',
      '--backend',
      'nftables',
    ],
  },
  { args: ['conformance', '--suite', 'nwfilterxml2xml'] },
  { args: ['--root', 'nowhere', 'nwfilter-list'] },
  { args: ['--root', 'nowhere', 'complete', '--', 'net-up'] },
  // loads node:https (only for tls://); the files are no PEM, so the request fails the same way
  { args: ['--root', 'pki', '--connect', 'tls://127.0.0.1:1', 'nwfilter-list'] },
  { args: ['completion', 'bash'] },
  { args: ['lease-hook', '--state-dir', 'nowhere', 'bogus'] },
  { args: ['--root', 'nowhere', 'hook', 'libvirt-qemu', 'g0', 'started'], input: '<domain><name>g0</name></domain>' },
];

const fromDist = (r: Run) => r.loaded.includes('dist/cli/main.js') && !r.loaded.some((f) => f.startsWith('src/'));

describe('the bundled CLI', () => {
  before(() => {
    for (const p of [
      'bin',
      'scripts',
      'src',
      'filters',
      'schemas',
      'test/corpus',
      'package.json',
      'tsconfig.json',
      'tsconfig.build.json',
    ])
      cpSync(join(repo, p), join(copy, p), { recursive: true });
    symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
    for (const f of [
      'etc/pki/CA/cacert.pem',
      'etc/pki/libvirt/clientcert.pem',
      'etc/pki/libvirt/private/clientkey.pem',
    ]) {
      mkdirSync(join(copy, 'pki', f, '..'), { recursive: true });
      writeFileSync(join(copy, 'pki', f), 'not a certificate\n');
    }
    runSources(false);
    const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: copy, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stdout + build.stderr);
  });
  after(() => rmSync(copy, { recursive: true, force: true }));

  it('prints what the sources print, byte for byte, with the same exit code', { timeout: 300_000 }, async () => {
    const bundled: Run[] = [];
    for (const c of COMMANDS) bundled.push(await run(c.args, c.input));
    runSources(true);
    const sources: Run[] = [];
    for (const c of COMMANDS) sources.push(await run(c.args, c.input));
    runSources(false);
    COMMANDS.forEach((c, i) => {
      const [b, s] = [bundled[i]!, sources[i]!];
      assert.ok(fromDist(b), `${c.args.join(' ')}: ran from dist/ (${b.loaded.join(' ')})`);
      assert.ok(s.loaded.includes('src/cli/main.ts'), `${c.args.join(' ')}: ran from src/`);
      assert.deepEqual([b.status, b.stdout, b.stderr], [s.status, s.stdout, s.stderr], c.args.join(' '));
    });
    // the cases reach what they are meant to (not all the same early failure)
    assert.match(bundled[6]!.stdout, /valid network filter/);
    assert.match(bundled[11]!.stdout, /^nwfilterxml2xml: \d+ passed, 0 failed$/m);
    assert.match(bundled[12]!.stderr, /failed to connect to the daemon at nowhere\/run\/virtwall\/virtwall-sock/);
  });

  describe('a bind and an unbind against a daemon', () => {
    let server: Server;
    const requests: string[] = [];
    before(async () => {
      // answers as the daemon does (src/daemon/http.ts) for what these two commands ask
      mkdirSync(join(root, 'run/virtwall'), { recursive: true });
      server = createServer((req, res) => {
        requests.push(`${req.method} ${req.url}`);
        req.resume().on('end', () => res.end(JSON.stringify({ portdev: 'vnet0' })));
      });
      await new Promise<void>((r) => server.listen(join(root, 'run/virtwall/virtwall-sock'), r));
      writeFileSync(join(copy, 'binding.xml'), BINDING);
    });
    after(() => server.close());

    /** The sources (and packages) that went into the files of dist/ that `r` loaded. */
    const sourcesOf = (r: Run): string[] => {
      const meta = JSON.parse(readFileSync(join(copy, 'dist/meta.json'), 'utf8')) as {
        outputs: Record<string, { inputs: Record<string, unknown> }>;
      };
      const outputs = r.loaded.filter((f) => f.startsWith('dist/'));
      for (const f of outputs) assert.ok(meta.outputs[f], `${f} is in the metafile`);
      return [
        ...r.loaded.filter((f) => !f.startsWith('dist/')),
        ...outputs.flatMap((f) => Object.keys(meta.outputs[f]!.inputs)),
      ];
    };
    /** What a bind must not load: parsers, schema, wasm, daemon, RPC, backends, the daemon's packages. */
    const HEAVY =
      /^src\/(xml\/dom|schema\/|conf\/(document|network\/parse|nwfilter\/parse)|daemon\/(main|http)|rpc\/|backends\/|nwfilter\/)|node_modules\/(saxes|libxml2-wasm|zod|pino|prom-client|dbus-next)\//;

    it('loads the CLI and the nwfilter commands, and none of the heavy modules', { timeout: 60_000 }, async () => {
      for (const args of [
        ['nwfilter-binding-create', 'binding.xml'],
        ['nwfilter-binding-delete', 'vnet0'],
      ]) {
        const r = await run(['--root', root, ...args]);
        assert.equal(r.status, 0, r.stderr);
        assert.ok(fromDist(r), r.loaded.join(' '));
        const sources = sourcesOf(r);
        assert.ok(
          sources.includes('src/cli/commands/nwfilter.ts') && sources.includes('src/cli/client.ts'),
          sources.join(' '),
        );
        assert.deepEqual(
          sources.filter((s) => HEAVY.test(s)),
          [],
          args.join(' '),
        );
      }
      assert.deepEqual(requests, ['POST /bindings', 'GET /bindings/vnet0', 'DELETE /bindings/vnet0']);
    });

    it('the control: a schema check does load libxml2 and the parsers', { timeout: 60_000 }, async () => {
      const r = await run(['validate', 'filters/clean-traffic.xml']);
      assert.equal(r.status, 0, r.stderr);
      const heavy = sourcesOf(r).filter((s) => HEAVY.test(s));
      assert.ok(heavy.includes('src/schema/relaxng.ts') && heavy.includes('src/xml/dom.ts'), heavy.join(' '));
      assert.ok(
        heavy.some((s) => s.includes('node_modules/libxml2-wasm/')),
        heavy.join(' '),
      );
    });
  });
});

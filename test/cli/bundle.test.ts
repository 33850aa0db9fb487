// The bundled CLI (scripts/build.mjs -> dist/cli/) against the sources it was built from, in a
// copy of the package built once: the same commands through the bundle and through src/ (tsx)
// print the same bytes and exit alike; and a bind or unbind loads only the code it runs (no XML
// parser, RelaxNG or libxml2's wasm, daemon, RPC server or backend), seen from the modules the
// process loaded (a loader hook, test/support/module-log.mjs) mapped to their sources through
// the build's metafile. A schema check is the control: it does load libxml2.
import { fakeDaemon } from './fake-daemon.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
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
      server = await fakeDaemon(root, (req, body, res) => {
        requests.push(`${req.method} ${req.url}`);
        const [status, answer] = answerOf(`${req.method} ${req.url}`, body);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
      writeFileSync(join(copy, 'binding.xml'), BINDING);
    });
    after(() => server.close());

    /** The daemon's answers (src/daemon/http.ts) to what the commands below ask. */
    const answerOf = (request: string, body: string): [number, unknown] => {
      if (request === 'POST /bindings' && (JSON.parse(body) as { file: string }).file === 'dup.xml')
        return [409, { error: "filter binding for port dev 'vnet0' already exists", kind: 'conflict' }];
      if (request === 'GET /bindings/missing')
        return [404, { error: "no nwfilter binding for port dev 'missing'", kind: 'not-found' }];
      if (request === 'GET /networks/default/ports') return [200, [{ uuid: 'u1', tap: 'tap0' }]];
      return [200, { portdev: 'vnet0' }];
    };

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

    /** What the fast path (src/cli/fast-path.ts) leaves unloaded: the program, commander, node:http. */
    const PROGRAM = /^src\/cli\/program\.ts$|^node_modules\/commander\/|^node-builtin:(.*>)?node:https?$/;

    it('loads the fast path and the binding commands: no program, commander, HTTP client or heavy module', {
      timeout: 60_000,
    }, async () => {
      requests.length = 0;
      for (const args of [
        ['nwfilter-binding-create', 'binding.xml'],
        ['nwfilter-binding-delete', 'vnet0'],
      ]) {
        const r = await run(['--root', root, ...args]);
        assert.equal(r.status, 0, r.stderr);
        assert.ok(fromDist(r), r.loaded.join(' '));
        const sources = sourcesOf(r);
        assert.ok(
          sources.includes('src/cli/fast-path.ts') &&
            sources.includes('src/cli/commands/nwfilter-binding.ts') &&
            sources.includes('src/cli/client.ts'),
          sources.join(' '),
        );
        assert.deepEqual(
          sources.filter((s) => HEAVY.test(s) || PROGRAM.test(s)),
          [],
          args.join(' '),
        );
        assert.ok(!r.loaded.some((f) => f.startsWith('node_modules/')), r.loaded.join(' '));
      }
      assert.deepEqual(requests, ['POST /bindings', 'GET /bindings/vnet0', 'DELETE /bindings/vnet0']);
    });

    it('prints what the program prints for the same command, byte for byte, with the same exit code', {
      timeout: 120_000,
    }, async () => {
      const cases: { args: string[]; input?: string }[] = [
        { args: ['nwfilter-binding-create', 'binding.xml'] },
        { args: ['nwfilter-binding-create', 'dup.xml'] },
        { args: ['nwfilter-binding-create', 'absent.xml'] },
        { args: ['nwfilter-binding-create', '-'], input: BINDING },
        { args: ['nwfilter-binding-delete', 'vnet0'] },
        { args: ['nwfilter-binding-delete', 'missing'] },
        { args: ['hook', 'qemu-ifup', 'tap0'] },
        { args: ['hook', 'qemu-ifdown', 'tap0'] },
        { args: ['hook', 'libvirt-qemu', 'g0', 'prepare', 'begin', '-'] },
      ];
      writeFileSync(join(copy, 'dup.xml'), BINDING);
      const seen = new Map<string, Run>();
      const daemonSaw = new Map<string, string[]>();
      for (const { args, input } of cases)
        for (const [quiet, at] of [
          [[], root],
          [['-q'], root],
          [[], 'nowhere'],
        ] as const) {
          requests.length = 0;
          // the fast path takes the global options before the command only; after it, the program parses them
          const fast = await run([...quiet, '--root', at, ...args], input);
          const fastRequests = [...requests];
          requests.length = 0;
          const program = await run([...args, '--root', at, ...quiet], input);
          const what = `${quiet.join('')} ${at} ${args.join(' ')}`;
          assert.deepEqual(
            [fast.status, fast.stdout, fast.stderr],
            [program.status, program.stdout, program.stderr],
            what,
          );
          assert.deepEqual(fastRequests, requests, what);
          assert.deepEqual(
            sourcesOf(fast).filter((s) => PROGRAM.test(s)),
            [],
            `${what}: the fast path ran`,
          );
          assert.ok(sourcesOf(program).includes('src/cli/program.ts'), `${what}: the program ran`);
          seen.set(what, fast);
          daemonSaw.set(what, fastRequests);
        }
      // the daemon's start, refused as a daemon serves the root already: the same words, no program
      for (const quiet of [[], ['-q']]) {
        const fast = await run([...quiet, '--root', root, 'daemon']);
        const program = await run(['daemon', '--root', root, ...quiet]);
        assert.deepEqual([fast.status, fast.stdout, fast.stderr], [program.status, program.stdout, program.stderr]);
        assert.match(fast.stderr, /a daemon already serves/);
        // (the daemon's own HTTP server loads node:http)
        const programOnly = /^src\/cli\/program\.ts$|^node_modules\/commander\//;
        assert.deepEqual(
          sourcesOf(fast).filter((s) => programOnly.test(s)),
          [],
        );
        assert.ok(sourcesOf(program).includes('src/cli/program.ts'));
      }
      // the cases reach what they are meant to
      const out = (what: string) => {
        const r = seen.get(what)!;
        return [r.status, r.stdout, r.stderr];
      };
      assert.deepEqual(out(` ${root} nwfilter-binding-create binding.xml`), [
        0,
        'Network filter binding on vnet0 created from binding.xml\n\n',
        '',
      ]);
      assert.deepEqual(out(`-q ${root} nwfilter-binding-delete vnet0`), [0, '', '']);
      assert.deepEqual(out(` ${root} nwfilter-binding-create dup.xml`), [
        1,
        '\n',
        "error: Failed to create network filter from dup.xml\nerror: filter binding for port dev 'vnet0' already exists\n",
      ]);
      assert.match(out(` ${root} nwfilter-binding-create absent.xml`)[2] as string, /Failed to open file 'absent.xml'/);
      assert.match(
        out(` ${root} nwfilter-binding-delete missing`)[2] as string,
        /failed to get nwfilter binding 'missing'/,
      );
      assert.deepEqual(out(` ${root} hook qemu-ifup tap0`), [
        2,
        '',
        'error: VIRTWALL_MAC must hold the guest MAC address\n',
      ]);
      assert.deepEqual(daemonSaw.get(` ${root} hook qemu-ifdown tap0`), [
        'GET /networks/default/ports',
        'DELETE /ports/u1',
      ]);
      assert.match(
        out(' nowhere nwfilter-binding-delete vnet0')[2] as string,
        /failed to connect to the daemon at nowhere\//,
      );
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

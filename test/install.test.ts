// run-tests: alone (npm pack rebuilds the repository's dist/, which other files' CLI runs use)
// README's "Install on a host", run in a scratch root SCRATCH (for `/`) and a namespace this test
// creates (for the host's network stack): the package `npm pack` builds is installed with npm
// alone, its units pass systemd-analyze verify and are enabled with systemctl, the installed
// daemon started as the unit starts it reports READY=1 when it serves and runs a network; the
// uninstall steps leave SCRATCH with exactly the files it had before and the namespace's
// firewall and links as they were. The root namespace's ruleset is never touched.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { canUseNetns, NetnsLab } from './support/netns.js';
import { notifyListener } from './support/notify.js';

const REPO = join(import.meta.dirname, '..');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const tools = ['systemd-analyze', 'systemctl', 'npm'].every((t) => spawnSync(t, ['--version']).status === 0);
const skip = !canUseNetns() ? 'needs root and ip netns' : !tools ? 'needs systemd-analyze, systemctl and npm' : false;

function run(argv: string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 180_000, ...opts });
  assert.equal(r.status, 0, `${argv.join(' ')}: ${String(r.stderr)}${String(r.error ?? '')}`);
  return String(r.stdout);
}

/** Every file and symlink under dir, relative to it. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('install on a host', { skip }, () => {
  it('installs from the packed tarball, serves under its unit, and uninstalls to the host as it was', async (t) => {
    const lab = new NetnsLab();
    const ns = lab.netns('host');
    const work = mkdtempSync(join(tmpdir(), 'virtwall-install-'));
    const S = join(work, 'root');
    mkdirSync(S, { mode: 0o755 });
    let daemon: ReturnType<typeof spawn> | undefined;
    let listener: Awaited<ReturnType<typeof notifyListener>> | undefined;
    t.after(() => {
      daemon?.kill('SIGKILL');
      listener?.close();
      // dnsmasq of the network, if a step failed before net-destroy
      for (const pid of lab.pids(ns)) spawnSync('kill', [pid]);
      lab.cleanup();
      rmSync(work, { recursive: true, force: true });
    });
    // the host's own systemd units and /bin/kill, which the unit refers to
    mkdirSync(join(S, 'usr/lib/systemd'), { recursive: true });
    cpSync('/usr/lib/systemd/system', join(S, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    mkdirSync(join(S, 'bin'));
    cpSync('/bin/kill', join(S, 'bin/kill'));
    const hostFiles = files(S);
    const rootRuleset = run(['nft', 'list', 'ruleset']);
    const nsRuleset = lab.exec(ns, ['nft', 'list', 'ruleset']).stdout;
    const nsLinks = lab.exec(ns, ['ip', '-o', 'link']).stdout;

    // install: the tarball, then npm alone (dependencies from the registry, no devDependency)
    const tarball = join(
      work,
      run(['npm', 'pack', '--silent', '--pack-destination', work], { cwd: REPO }).trim().split('\n').pop()!,
    );
    run([
      'npm',
      'install',
      '-g',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--prefix',
      join(S, 'usr/local'),
      tarball,
    ]);
    const pkg = join(S, 'usr/local/lib/node_modules/virtwall');
    assert.equal(existsSync(join(pkg, 'src')), false);
    assert.equal(existsSync(join(pkg, 'node_modules/tsx')), false);
    // the bundled CLI (scripts/build.mjs), without the build's metafile
    assert.equal(existsSync(join(pkg, 'dist/cli/main.js')), true);
    assert.equal(existsSync(join(pkg, 'dist/meta.json')), false);
    // how the sources stood at the build: a package has no sources to compare
    assert.equal(existsSync(join(pkg, 'dist/.source-index')), false);
    const virtwall = join(S, 'usr/local/bin/virtwall');
    assert.equal(run([virtwall, '--version']), `${VERSION}\n`);
    const unitDir = join(S, 'etc/systemd/system');
    mkdirSync(unitDir, { recursive: true });
    const units = readdirSync(join(pkg, 'systemd'));
    for (const u of units) cpSync(join(pkg, 'systemd', u), join(unitDir, u));
    const verify = spawnSync('systemd-analyze', ['verify', `--root=${S}`, '--man=no', ...units], { encoding: 'utf8' });
    assert.deepEqual([verify.status, verify.stderr], [0, '']);
    run(['systemctl', `--root=${S}`, 'enable', 'virtwalld.service']);
    assert.equal(run(['systemctl', `--root=${S}`, 'is-enabled', 'virtwall.service']).trim(), 'alias');
    for (const u of units) assert.equal(run(['systemctl', `--root=${S}`, 'is-enabled', u]).trim(), 'enabled', u);

    // start as the unit does (its ExecStart, here under SCRATCH), with systemd's notification socket
    const unit = readFileSync(join(unitDir, 'virtwalld.service'), 'utf8');
    const [exec, ...args] = /^ExecStart=(.*)$/m.exec(unit)![1]!.split(' ');
    assert.equal(exec, '/usr/local/bin/virtwall');
    const notify = join(work, 'notify');
    listener = await notifyListener(notify, join(S, 'run/virtwall/virtwall-sock'));
    let log = '';
    daemon = spawn('ip', ['netns', 'exec', ns, join(S, exec!), '--root', S, ...args], {
      env: {
        ...process.env,
        NOTIFY_SOCKET: notify,
        DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent/virtwall-test-bus',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    daemon.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    const exited = new Promise<number | null>((resolve) => daemon!.on('exit', resolve));
    assert.deepEqual(await listener.next(), { message: 'READY=1', pid: daemon.pid, serving: true }, log);
    const cli = (...a: string[]) => run([virtwall, '--root', S, ...a]);
    cli('net-define', join(pkg, 'share/default-network.xml'));
    cli('net-start', 'default');
    assert.match(lab.exec(ns, ['nft', 'list', 'ruleset']).stdout, /table ip libvirt_network/);
    assert.equal(run(['nft', 'list', 'ruleset']), rootRuleset);

    // uninstall, as README says
    for (const net of cli('net-list', '--name').split('\n').filter(Boolean)) cli('net-destroy', net);
    daemon.kill('SIGTERM');
    assert.equal(await exited, 0, log);
    run(['systemctl', `--root=${S}`, 'disable', 'virtwalld.service']);
    for (const u of units) rmSync(join(unitDir, u));
    run(['npm', 'uninstall', '-g', '--no-audit', '--no-fund', '--prefix', join(S, 'usr/local'), 'virtwall']);
    for (const dir of ['etc/virtwall', 'var/lib/virtwall', 'run/virtwall'])
      rmSync(join(S, dir), { recursive: true, force: true });
    assert.deepEqual(files(S), hostFiles);
    assert.equal(lab.exec(ns, ['nft', 'list', 'ruleset']).stdout, nsRuleset);
    assert.equal(lab.exec(ns, ['ip', '-o', 'link']).stdout, nsLinks);
    assert.equal(run(['nft', 'list', 'ruleset']), rootRuleset);
  });
});

// Network-namespace lab for tests that need the real kernel: every namespace and process it
// creates is tracked and removed by cleanup(), which tests register with t.after() so it also
// runs on failure. Nothing here touches the root namespace's links or firewall.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface ExecResult {
  status: number;
  stdout: string;
  stderr: string;
}

const liveLabs = new Set<NetnsLab>();
process.on('exit', () => {
  for (const lab of liveLabs) lab.cleanup();
});

export class NetnsLab {
  private readonly namespaces: string[] = [];
  private readonly processes: ChildProcess[] = [];
  /** Short random tag so parallel or crashed runs never collide (names stay <= 15 chars for links). */
  readonly tag = randomBytes(3).toString('hex');

  constructor() {
    liveLabs.add(this);
  }

  /** Creates a namespace `vwt-<tag>-<name>` with loopback up; returns its name. */
  netns(name: string): string {
    const ns = `vwt-${this.tag}-${name}`;
    mustRun(['ip', 'netns', 'add', ns]);
    this.namespaces.push(ns);
    this.exec(ns, ['ip', 'link', 'set', 'lo', 'up'], true);
    return ns;
  }

  /** Runs argv inside ns; throws with stderr unless `check` is false. */
  exec(ns: string, argv: readonly string[], check = true, input?: string): ExecResult {
    // listings of thousands of rules exceed spawnSync's 1 MB default
    const r = spawnSync('ip', ['netns', 'exec', ns, ...argv], {
      encoding: 'utf8',
      input,
      timeout: 60_000,
      maxBuffer: 1 << 28,
    });
    const result = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
    if (check && result.status !== 0) {
      throw new Error(`[${ns}] ${argv.join(' ')} failed (${result.status}): ${result.stderr.trim()}`);
    }
    return result;
  }

  /** Runs a shell script inside ns. */
  sh(ns: string, script: string, check = true): ExecResult {
    return this.exec(ns, ['sh', '-c', script], check);
  }

  /** Starts a long-running process inside ns (stdin a pipe if asked); it is killed by cleanup(). */
  spawn(ns: string, argv: readonly string[], stdin: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: [stdin, 'pipe', 'pipe'] });
    this.processes.push(child);
    return child;
  }

  /** Creates a bridge in ns (no STP, no forwarding delay) and brings it up. */
  bridge(ns: string, name: string): void {
    this.exec(ns, ['ip', 'link', 'add', name, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    this.exec(ns, ['ip', 'link', 'set', name, 'up']);
  }

  /**
   * A veth pair: `hostIf` in hostNs (optionally enslaved to `bridge`), `guestIf` in guestNs,
   * both up. The host end plays the role of a guest's TAP device.
   */
  veth(
    hostNs: string,
    hostIf: string,
    guestNs: string,
    guestIf: string,
    opts: { bridge?: string; mac?: string } = {},
  ): void {
    const tmp = `vwt${this.tag}${Math.floor(Math.random() * 1000)}`;
    this.exec(hostNs, ['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', tmp]);
    this.exec(hostNs, ['ip', 'link', 'set', tmp, 'netns', guestNs]);
    this.exec(guestNs, ['ip', 'link', 'set', tmp, 'name', guestIf]);
    if (opts.mac) this.exec(guestNs, ['ip', 'link', 'set', guestIf, 'address', opts.mac]);
    if (opts.bridge) this.exec(hostNs, ['ip', 'link', 'set', hostIf, 'master', opts.bridge]);
    this.exec(hostNs, ['ip', 'link', 'set', hostIf, 'up']);
    this.exec(guestNs, ['ip', 'link', 'set', guestIf, 'up']);
  }

  /** Process ids running inside ns. */
  pids(ns: string): string[] {
    return spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout?.split(/\s+/).filter(Boolean) ?? [];
  }

  /** Kills every process and deletes every namespace this lab created. Idempotent. */
  cleanup(): void {
    for (const p of this.processes.splice(0)) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    for (const ns of this.namespaces.splice(0).reverse()) {
      // Processes started by other means inside the namespace die with it only if killed first.
      for (const pid of this.pids(ns)) spawnSync('kill', ['-9', pid]);
      spawnSync('ip', ['netns', 'del', ns]);
    }
    liveLabs.delete(this);
  }
}

function mustRun(argv: string[]): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
}

/** True when this process may create namespaces (root with iproute2); kernel tests skip otherwise. */
export function canUseNetns(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = `vwt-probe-${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe]);
  if (r.status !== 0) return false;
  spawnSync('ip', ['netns', 'del', probe]);
  return true;
}

// Running one command: the only place virtwall starts processes that change the kernel. A
// runner can be bound to a network namespace (`ip netns exec NS ...`), so everything applied
// through it stays inside that namespace.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Libnftables, nftCall } from '../nft/libnftables.js';

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  /**
   * Runs argv to completion; `input` is written to its stdin (e.g. a `*-restore` script), `env`
   * is added to its environment (dnsmasq's VIR_BRIDGE_NAME: no `env` process in between).
   */
  run(argv: readonly string[], input?: string, env?: Readonly<Record<string, string>>): Promise<CommandResult>;
  /**
   * Set when its commands act on this host's kernel: the network namespace they act in (`ip
   * netns` name), '' for this process's own. Code that reaches the kernel in-process (netlink,
   * /proc/sys) acts there too; a runner without it (a fake) gets commands instead.
   */
  readonly netns?: string;
}

const NETNS_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** How long a process of ours is still recognised after it ended (its kernel events may be read late). */
const OWN_PROCESS_MEMORY_MS = 60_000;
/** Processes started by SystemRunner in this process: pid -> when it ended (0 while it runs). */
const ownProcesses = new Map<number, number>();

function forgetOldProcesses(): void {
  const now = Date.now();
  for (const [p, ended] of ownProcesses) if (ended > 0 && now - ended > OWN_PROCESS_MEMORY_MS) ownProcesses.delete(p);
}

/**
 * Whether `pid` is a thread of this process (it commits through in-process libnftables on
 * koffi's worker threads, src/nft/libnftables.ts, and the kernel names the committing thread)
 * or is (or recently was) a process a SystemRunner of ours started.
 */
export function isOwnProcess(pid: number): boolean {
  if (pid === process.pid || existsSync(`/proc/self/task/${pid}`)) return true;
  forgetOldProcesses();
  return ownProcesses.has(pid);
}

/** This namespace's libnftables context (created at first use); null where libnftables does not load. */
let ownNft: Libnftables | null | undefined;
function ownNftContext(): Libnftables | null {
  if (ownNft === undefined) {
    try {
      ownNft = new Libnftables();
    } catch {
      ownNft = null;
    }
  }
  return ownNft;
}

/**
 * Runs commands on this host, or inside network namespace `netns` when given. In this process's
 * own namespace nft commands run in-process (libnftables.ts: no process to start, the largest
 * part of a network start's firewall time); a runner bound to another namespace starts `nft`
 * there (a context opened in it would keep the namespace alive after `ip netns del`).
 */
export class SystemRunner implements CommandRunner {
  private readonly prefix: string[];
  readonly netns: string;

  constructor(opts: { netns?: string } = {}) {
    if (opts.netns !== undefined && !NETNS_NAME.test(opts.netns)) {
      throw new Error(`invalid network namespace name '${opts.netns}'`);
    }
    this.prefix = opts.netns === undefined ? [] : ['ip', 'netns', 'exec', opts.netns];
    this.netns = opts.netns ?? '';
  }

  run(argv: readonly string[], input?: string, env?: Readonly<Record<string, string>>): Promise<CommandResult> {
    const lib = this.netns === '' && argv[0] === 'nft' ? ownNftContext() : undefined;
    const call = lib && nftCall(argv, input);
    if (lib && call && typeof call !== 'string') return lib.runCall(call);
    const full = [...this.prefix, ...argv];
    return new Promise((resolve) => {
      const child = spawn(full[0]!, full.slice(1), {
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        // `ip netns exec` passes its environment on
        ...(env ? { env: { ...process.env, ...env } } : {}),
      });
      const pid = child.pid;
      forgetOldProcesses();
      if (pid !== undefined) ownProcesses.set(pid, 0);
      child.stdin?.on('error', () => undefined).end(input);
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', (err) => resolve({ status: 127, stdout, stderr: stderr + err.message }));
      child.on('close', (code, signal) => {
        if (pid !== undefined) ownProcesses.set(pid, Date.now());
        resolve({ status: code ?? (signal ? 128 : 1), stdout, stderr });
      });
    });
  }
}

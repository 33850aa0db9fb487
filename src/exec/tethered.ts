// Long-lived helpers of the daemon (tcpdump for IP learning) must not outlive it,
// not even a kill -9. The kernel's parent-death signal does that, but it is cleared when a
// program changes its user (tcpdump drops to user tcpdump), so it is set (util-linux setpriv)
// on a small root shell that runs the command and kills it when the signal (or our own stop,
// SIGTERM) arrives. Every long-lived child is started through here.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';

const SUPERVISOR = 'trap \'kill -KILL "$c" 2>/dev/null; exit 143\' TERM; "$@" & c=$!; wait "$c"';

/** The argv that runs `argv` tied to this process's life. */
export function tetheredArgv(argv: readonly string[]): string[] {
  return ['setpriv', '--pdeathsig', 'TERM', '--', 'sh', '-c', SUPERVISOR, 'sh', ...argv];
}

/** Starts `argv` so that it ends when it is killed or when this process dies. */
export function spawnTethered(argv: readonly string[], stdio: StdioOptions): ChildProcess {
  const full = tetheredArgv(argv);
  return spawn(full[0]!, full.slice(1), { stdio });
}

// Processes as /proc shows them. A process we did not spawn (a daemonised dnsmasq) sends us no
// exit event, so whether it still runs and what it is are read from /proc/PID/stat, what it
// forked from its children files.
import { existsSync, readdirSync, readFileSync } from 'node:fs';

interface ProcStat {
  comm: string;
  /** R, S, Z, ... */
  state: string;
  ppid: number;
}

/** /proc/PID/stat's leading fields; undefined once the process is gone. */
function procStat(pid: number | string): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may hold spaces and parentheses: the fields after its last closing one are fixed
  const close = stat.lastIndexOf(')');
  const [state, ppid] = stat.slice(close + 2).split(' ');
  return { comm: stat.slice(stat.indexOf('(') + 1, close), state, ppid: Number(ppid) };
}

/** The process runs: not gone, not a zombie (a zombie's sockets and files are closed). */
export function processRuns(pid: number): boolean {
  const state = procStat(pid)?.state;
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** The process `pid` runs and is `comm` (not a later process that reused its pid). */
export function processIs(pid: number, comm: string): boolean {
  return procStat(pid)?.comm === comm && processRuns(pid);
}

/** Whether the kernel lists each thread's children (/proc/PID/task/TID/children, CONFIG_PROC_CHILDREN). */
let childrenFiles: boolean | undefined;

/**
 * The children of `pid`, from its threads' children files: a few small reads, where a scan of
 * every process in /proc took milliseconds on a host with many. The kernel lists them reliably
 * when the children are stopped (killProcess stops a tree before reading it again).
 */
function childrenOf(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return []; // gone
  }
  return tasks.flatMap((tid) => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    } catch {
      return []; // the thread ended while we looked
    }
  });
}

/** pid and every process descending from it. */
export function processTree(pid: number): number[] {
  childrenFiles ??= existsSync('/proc/thread-self/children');
  const children = childrenFiles ? childrenOf : scannedChildren();
  const tree: number[] = [];
  const visit = (p: number) => {
    tree.push(p);
    for (const c of children(p)) visit(c);
  };
  visit(pid);
  return tree;
}

/** Children by parent, from one scan of /proc. */
function scannedChildren(): (pid: number) => number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(entry); // undefined: it ended while we looked
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)]);
  }
  return (pid) => children.get(pid) ?? [];
}

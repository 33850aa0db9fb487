// Processes as /proc shows them. A process we did not spawn (a daemonised dnsmasq) sends us no
// exit event, so whether it still runs, what it is and what it forked are read from /proc/PID/stat.
import { readdirSync, readFileSync } from 'node:fs';

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

/** pid and every process descending from it. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(entry); // undefined: it ended while we looked
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)]);
  }
  const tree: number[] = [];
  const visit = (p: number) => {
    tree.push(p);
    for (const c of children.get(p) ?? []) visit(c);
  };
  visit(pid);
  return tree;
}

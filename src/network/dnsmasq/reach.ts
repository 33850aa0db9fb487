// dnsmasq gives up root before it reads its hosts files (dhcp-hostsfile=, addn-hosts=), at start
// and on every SIGHUP: it runs as its own unprivileged user ("nobody" unless built otherwise), so
// every folder above those files must let others through and the files must be readable by
// others. Where they are not, dnsmasq logs "Permission denied" and serves no DHCP reservation or
// DNS host: a state root under a 0700 folder (e.g. one made by mktemp -d) does that silently.
import { statSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ClosedPath {
  path: string;
  /** Its permission bits. */
  mode: number;
  /** What others lack there. */
  lacks: 'search' | 'read';
}

/** The first path on the way to `file` (a folder from / down, then the file) that others cannot pass or read. */
export function closedToOthers(file: string): ClosedPath | undefined {
  const folders: string[] = [];
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    folders.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of folders) {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) return { path: dir, mode, lacks: 'search' };
  }
  let mode: number;
  try {
    mode = statSync(file).mode & 0o7777;
  } catch {
    return undefined; // not written yet: the files are written others-readable
  }
  return (mode & 0o004) === 0 ? { path: file, mode, lacks: 'read' } : undefined;
}

/** How to say it: what dnsmasq cannot reach, and the fix. */
export function closedPathText(c: ClosedPath): { problem: string; fix: string } {
  const mode = c.mode.toString(8).padStart(4, '0');
  return c.lacks === 'search'
    ? {
        problem: `dnsmasq reads its hosts files as an unprivileged user and cannot pass folder ${c.path} (mode ${mode}): DHCP host reservations and DNS hosts would be ignored`,
        fix: `let others pass it (chmod o+x ${c.path}) or use a state root under folders that do`,
      }
    : {
        problem: `dnsmasq reads its hosts files as an unprivileged user and cannot read ${c.path} (mode ${mode}): DHCP host reservations and DNS hosts would be ignored`,
        fix: `chmod o+r ${c.path}`,
      };
}

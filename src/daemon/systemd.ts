// The daemon under systemd (systemd.exec(5), sd_notify(3)): readiness for Type=notify, and log
// lines journald reads with their priority. Node has no Unix datagram sockets, so readiness goes
// through systemd-notify: run by the daemon, it sends READY=1 under the daemon's PID (it may, as
// root), which systemd accepts from the main process (NotifyAccess=main, Type=notify's default).
import { execFile } from 'node:child_process';
import { fstatSync } from 'node:fs';

/** Tells the service manager the daemon serves; nothing without NOTIFY_SOCKET (not under systemd). */
export function notifyReady(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const socket = env['NOTIFY_SOCKET'];
  if (!socket) return Promise.resolve();
  // children (dnsmasq, tcpdump) are not the service's voice
  delete env['NOTIFY_SOCKET'];
  return new Promise((resolve, reject) => {
    execFile('systemd-notify', ['--ready'], { env: { ...env, NOTIFY_SOCKET: socket } }, (err, _out, stderr) =>
      err ? reject(new Error(`systemd-notify --ready failed: ${stderr.trim() || err.message}`)) : resolve(),
    );
  });
}

/**
 * True when file descriptor `fd` is the journal's stream: systemd sets JOURNAL_STREAM to its
 * device and inode, which a redirected stderr no longer matches (systemd.exec(5)).
 */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const m = /^(\d+):(\d+)$/.exec(env['JOURNAL_STREAM'] ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/** pino's levels as syslog priorities (sd-daemon(3)'s `<N>` line prefixes). */
const PRIORITY: readonly [number, number][] = [
  [60, 2], // fatal: crit
  [50, 3], // error: err
  [40, 4], // warn: warning
  [30, 6], // info
  [0, 7], // debug, trace
];

/**
 * One pino JSON line as journald reads it: `<PRIORITY>MESSAGE {fields}` — the priority prefix
 * sets the entry's PRIORITY, the message comes first, the other fields stay JSON after it.
 */
export function journalLine(json: string): string {
  const {
    level,
    msg,
    time: _time,
    pid: _pid,
    hostname: _host,
    ...fields
  } = JSON.parse(json) as Record<string, unknown>;
  const priority = PRIORITY.find(([min]) => Number(level) >= min)![1];
  const rest = Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : '';
  const line = `<${priority}>${String(msg ?? '')}${rest}`;
  return `${line.replace(/\n/g, '\\n')}\n`;
}

// Durable records: every definition and run-time record is written to a temporary file, synced
// and renamed over the old one, so a crash leaves the old or the new content, never a torn file.
// VIRTWALL_CRASH_AT=<point> makes the daemon die (SIGKILL, no clean-up) when it reaches that
// point: the crash tests use it to stop the daemon between the steps of an operation.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../network/lifecycle/leases.js';
import { decodeUtf8 } from '../xml/utf8.js';

export function crashPoint(point: string): void {
  if (process.env['VIRTWALL_CRASH_AT'] === point) process.kill(process.pid, 'SIGKILL');
}

/** Writes DIR/NAME with the crash points `write:<kind>:before` and `write:<kind>:after`. */
export function writeRecord(kind: string, dir: string, name: string, content: string): void {
  crashPoint(`write:${kind}:before`);
  writeFileAtomic(join(dir, name), content, 0o600);
  crashPoint(`write:${kind}:after`);
}

export function removeRecord(kind: string, dir: string, name: string): void {
  crashPoint(`remove:${kind}:before`);
  rmSync(join(dir, name), { force: true });
  crashPoint(`remove:${kind}:after`);
}

/** The records of a directory with a suffix, as [name without suffix, content]; temp files skipped. */
export function readRecords(dir: string, suffix: string): [string, string][] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(suffix) && !f.startsWith('.'))
    .sort()
    .map((f) => [f.slice(0, -suffix.length), decodeUtf8(readFileSync(join(dir, f)))]);
}

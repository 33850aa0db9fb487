// The daemon's records: definitions and run-time records, one file each in a directory, written
// and read back as every state file is (src/util/state-file.ts: atomic writes, readRecords; a
// corrupt record is set aside, logged and skipped, so the daemon starts and rebuilds without it).
// VIRTWALL_CRASH_AT=<point> makes the daemon die (SIGKILL, no clean-up) when it reaches that
// point: the crash tests use it to stop the daemon between the steps of an operation.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/state-file.js';

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

// Durable records: every definition and run-time record is written to a temporary file, synced
// and renamed over the old one, so a crash leaves the old or the new content, never a torn file.
// Reading back, a record that does not parse or does not fit its schema (a disk error, a hand
// edit) is moved aside as NAME.corrupt-TIMESTAMP, reported to the daemon's log, and skipped: the
// daemon starts and rebuilds without it instead of refusing to start or failing every request.
// VIRTWALL_CRASH_AT=<point> makes the daemon die (SIGKILL, no clean-up) when it reaches that
// point: the crash tests use it to stop the daemon between the steps of an operation.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
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

export interface CorruptState {
  file: string;
  movedTo: string;
  err: string;
}

let report: (c: CorruptState) => void = () => undefined;

/** Where set-aside state files are reported (the daemon's log). */
export function reportCorruptStateTo(r: (c: CorruptState) => void): void {
  report = r;
}

/** What is wrong with a file, in one line (a schema names the first field that does not fit). */
function problem(err: unknown): string {
  if (err instanceof z.ZodError) {
    const issue = err.issues[0]!;
    return `${issue.path.length ? `field '${issue.path.join('.')}': ` : ''}${issue.message}`;
  }
  return (err as Error).message;
}

function setAside(file: string, err: unknown): void {
  const movedTo = `${file}.corrupt-${new Date().toISOString().replace(/[-:.]/g, '')}`;
  renameSync(file, movedTo);
  report({ file, movedTo, err: problem(err) });
}

/** FILE through `parse`; undefined when it does not exist or is corrupt (then set aside). */
export function readState<T>(file: string, parse: (text: string, file: string) => T): T | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return parse(decodeUtf8(bytes), file);
  } catch (err) {
    setAside(file, err);
    return undefined;
  }
}

/** A parser of JSON text that must fit `schema`. */
export const jsonState =
  <S extends z.ZodType>(schema: S) =>
  (text: string): z.output<S> =>
    schema.parse(JSON.parse(text));

/**
 * The records of a directory with a suffix, as [name without suffix, parsed]; temp files and
 * corrupt records skipped (`setAside` is told the names of the latter).
 */
export function readRecords<T>(dir: string, suffix: string, parse: (text: string, file: string) => T, setAside?: (name: string) => void): [string, T][] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(suffix) && !f.startsWith('.'))
    .sort()
    .flatMap((f): [string, T][] => {
      const name = f.slice(0, -suffix.length);
      const parsed = readState(join(dir, f), parse);
      if (parsed === undefined) setAside?.(name);
      return parsed === undefined ? [] : [[name, parsed]];
    });
}

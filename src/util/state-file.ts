// Files virtwall writes and reads back (records, caches, lease and learning state). Every one is
// written to a temporary file, synced and renamed over the old one, so a crash leaves the old or
// the new content, never a torn file. Read back through a parser or schema, a file that does not
// parse or fit (a disk error, a hand edit) has ONE outcome everywhere: it is moved aside as
// NAME.corrupt-TIMESTAMP (kept for inspection), reported as a warning, and read as missing, so
// its owner rebuilds what it held (from the kernel where it can) instead of refusing to start.
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as z from './zod.js';
import { decodeUtf8 } from '../xml/utf8.js';

/** Writes a file so that readers see the old or the new content, never a torn one. */
export function writeFileAtomic(file: string, content: string, mode = 0o644): void {
  // synchronous (npm's write-file-atomic is callback-first): callers write inside one step
  // of the daemon's serialised operations and in the lease hook, which must finish before exiting
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export interface CorruptState {
  file: string;
  movedTo: string;
  err: string;
}

/** Outside the daemon (the lease hook, the CLI) a warning on stderr, which dnsmasq logs. */
let report: (c: CorruptState) => void = (c) =>
  process.stderr.write(`virtwall: warning: corrupt state file ${c.file} set aside as ${c.movedTo}: ${c.err}\n`);

/** Where set-aside state files are reported (the daemon's log). */
export function reportCorruptStateTo(r: (c: CorruptState) => void): void {
  report = r;
}

/** What is wrong with a file, in one line (a schema names the first field that does not fit). */
function problem(err: unknown): string {
  if (err instanceof z.$ZodError) {
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

export interface ReadOptions {
  /** Told the name (without suffix) of each record set aside (readRecords). */
  onSetAside?: (name: string) => void;
  /** A reader that must change nothing (`virtwall doctor` beside a running daemon): a corrupt file is only skipped. */
  readOnly?: boolean;
}

/** FILE through `parse`; undefined when it does not exist or is corrupt (then set aside). */
export function readState<T>(
  file: string,
  parse: (text: string, file: string) => T,
  opts: ReadOptions = {},
): T | undefined {
  let text: string;
  try {
    // Node's own UTF-8 read (a thousand binding records at a start); it turns a bad sequence into
    // U+FFFD, so only a text holding one is read again as bytes for the strict decoding
    text = readFileSync(file, 'utf8');
    if (text.includes('\uFFFD')) text = decodeUtf8(readFileSync(file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return parse(text, file);
  } catch (err) {
    if (!opts.readOnly) setAside(file, err);
    return undefined;
  }
}

/** The records of a directory with a suffix, as [name without suffix, parsed]; temp files and corrupt records skipped. */
export function readRecords<T>(
  dir: string,
  suffix: string,
  parse: (text: string, file: string) => T,
  opts: ReadOptions = {},
): [string, T][] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(suffix) && !f.startsWith('.'))
    .sort()
    .flatMap((f): [string, T][] => {
      const name = f.slice(0, -suffix.length);
      const parsed = readState(join(dir, f), parse, opts);
      if (parsed === undefined && !opts.readOnly) opts.onSetAside?.(name);
      return parsed === undefined ? [] : [[name, parsed]];
    });
}

/** A parser of JSON text that must fit `schema`. */
export const jsonState =
  <S extends z.ZodMiniType>(schema: S) =>
  (text: string): z.output<S> =>
    schema.parse(JSON.parse(text));

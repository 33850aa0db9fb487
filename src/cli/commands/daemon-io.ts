// What the virsh-style commands share: reading a document argument as virsh does, looking an
// object up before acting on it (virsh's "failed to get ..." line), printing lists as tables or
// JSON (virsh's `edit` cycle is in edit.ts). Nothing here loads commander: the CLI's fast path
// (src/cli/fast-path.ts) runs the commands' actions without it.
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { VirtwallError } from '../../errors.js';
import { parseNameValues } from '../../util/name-value.js';
import { DaemonClient, seg } from '../client.js';
import { VirshError, failing, markVirsh, virshOutput, type VirshOutput } from '../virsh.js';
import { decodeUtf8 } from '../../xml/utf8.js';

/** strerror() of the errors opening or reading a document can give. */
const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EPERM: 'Operation not permitted',
  ENXIO: 'No such device or address',
};

/** virFileReadAll: the file's text, or virsh's "Failed to open/read file" error ("-": stdin). */
export function readDocument(file: string): string {
  if (file === '') throw new VirshError(undefined, "Failed to get option 'file': Option argument is empty");
  let fd: number;
  try {
    fd = file === '-' ? 0 : openSync(file, 'r');
  } catch (err) {
    throw systemError(`Failed to open file '${file}'`, err);
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(fd);
  } catch (err) {
    throw systemError(`Failed to read file '${file}'`, err);
  } finally {
    if (fd !== 0) closeSync(fd);
  }
  return decodeUtf8(bytes);
}

function systemError(what: string, err: unknown): VirshError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return new VirshError(undefined, `${what}: ${STRERROR[code] ?? (err as Error).message}`);
}

/** `NAME=VALUE` words as filter parameters, as the API takes them (a repeated name gives a list). */
export function parseParamWords(words: readonly string[], what: string): Record<string, string[]> {
  return Object.fromEntries(parseNameValues(words, what));
}

export type Arg = readonly [name: string, description: string];
export type Opts = Record<string, unknown>;

export interface VirshRun {
  client: DaemonClient;
  args: string[];
  opts: Opts;
  out: VirshOutput;
}

/** Declares a virsh-style command `name` with `args` and `options`; `run` does the work. */
export function virshCommand(
  program: Command,
  name: string,
  description: string,
  args: readonly Arg[],
  options: readonly Arg[],
  run: (r: VirshRun) => Promise<void>,
): Command {
  const c = markVirsh(program.command(name).description(description));
  for (const a of args) c.argument(...a);
  for (const o of options) c.option(...o);
  c.action(async (...params: unknown[]) => {
    const cmd = params.at(-1) as Command;
    await run({
      client: DaemonClient.of(cmd),
      args: params.slice(0, args.length) as string[],
      opts: params[args.length] as Opts,
      out: virshOutput((cmd.optsWithGlobals() as { quiet?: boolean }).quiet === true),
    });
  });
  return c;
}

/** The object kinds virsh looks up before acting, with virsh's words for a failed lookup. */
const LOOKUPS = {
  network: { what: 'network', path: (n: string) => `/networks/${seg(n)}` },
  nwfilter: { what: 'nwfilter', path: (n: string) => `/nwfilters/${seg(n)}` },
  binding: { what: 'nwfilter binding', path: (n: string) => `/bindings/${seg(n)}` },
  port: { what: 'network port', path: (n: string) => `/ports/${seg(n)}` },
} as const;
export type LookupKind = keyof typeof LOOKUPS;

/** virsh's virshCommandOpt*: the object named on the command line, or "failed to get <what> 'NAME'". */
export function lookup<T = Record<string, unknown>>(client: DaemonClient, kind: LookupKind, name: string): Promise<T> {
  const l = LOOKUPS[kind];
  return failing(`failed to get ${l.what} '${name}'`, client.call<T>('GET', l.path(name)));
}

/** A command that sends one document file to the daemon (`net-define`, ...). */
export interface DocumentSpec<R> {
  name: string;
  description: string;
  what: string;
  root: string;
  failure: string;
  send: (client: DaemonClient, xml: string, file: string) => Promise<R>;
  message: (reply: R, file: string) => string;
}

/** A document command's action: virsh's confirmation from the daemon's reply, `--validate` against libvirt's schema for `root`. */
export function documentRun<R>(spec: DocumentSpec<R>): (r: VirshRun) => Promise<void> {
  return async ({ client, args: [file], opts, out }) => {
    const xml = readDocument(file!);
    const reply = await failing(`${spec.failure} from ${file}`, async () => {
      if (opts['validate']) await validate(xml, spec.root);
      return spec.send(client, xml, file!);
    });
    out.extra(spec.message(reply, file!));
  };
}

export function documentCommand<R>(program: Command, spec: DocumentSpec<R>): void {
  virshCommand(
    program,
    spec.name,
    spec.description,
    [['<file>', `file containing an XML ${spec.what} description ("-": stdin)`]],
    [['--validate', 'validate the XML against the schema']],
    documentRun(spec),
  );
}

/** `--validate`: refuses a document libvirt's schema for `root` refuses, in libvirt's words. */
export async function validate(xml: string, root: string): Promise<void> {
  // libxml2 (wasm) loads only when a schema is checked: every other command starts faster
  const { schemaFailure } = await import('../../schema/relaxng.js');
  const failure = schemaFailure(xml, root);
  if (failure !== undefined) throw new VirtwallError('invalid-input', failure);
}

export interface ListSpec<T> {
  name: string;
  description: string;
  args?: readonly Arg[];
  /** Options besides --json (e.g. net-list's --all). */
  options?: readonly Arg[];
  fetch: (client: DaemonClient, args: string[], opts: Opts) => Promise<T[]>;
  /** virsh's table: header and cell of each column. */
  columns: readonly (readonly [header: string, cell: (row: T) => string])[];
  /** One value per line instead of the table (virsh's --uuid, --name): option and value. */
  only?: readonly (readonly [option: string, cell: (row: T) => string])[];
  /** virsh's words when both --table and an `only` option are given. */
  exclusive?: string;
}

/** A virsh list command: a table as virsh prints it, one column with --uuid/--name, or JSON with --json. */
export function listCommand<T>(program: Command, spec: ListSpec<T>): void {
  const only = spec.only ?? [];
  const onlyOptions: Arg[] = only.length
    ? [...only.map(([o]) => [`--${o}`, `list ${o}s only`] as const), ['--table', 'list table (default)']]
    : [];
  virshCommand(
    program,
    spec.name,
    spec.description,
    spec.args ?? [],
    [...(spec.options ?? []), ...onlyOptions, ['--json', 'machine-readable output']],
    async ({ client, args, opts, out }) => {
      const chosen = only.filter(([o]) => opts[o]);
      if (chosen.length + (opts['table'] ? 1 : 0) > 1) throw new VirshError(spec.exclusive);
      const rows = await spec.fetch(client, args, opts);
      if (opts['json']) return out.print(`${JSON.stringify(rows, null, 2)}\n`);
      const [one] = chosen;
      if (one) return out.print(rows.map((r) => `${one[1](r)}\n`).join(''));
      out.table(
        spec.columns.map(([h]) => h),
        rows.map((r) => spec.columns.map(([, cell]) => cell(r))),
      );
    },
  );
}

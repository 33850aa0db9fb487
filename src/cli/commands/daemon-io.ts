// What the virsh-style commands share: reading a document argument, printing lists as tables
// or JSON, and virsh's `edit` cycle through $EDITOR.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { VirtwallError, invalidInput } from '../../errors.js';
import { DaemonClient } from '../client.js';
import { formatTable } from '../table.js';
import { decodeUtf8 } from '../../xml/utf8.js';

export function readDocument(file: string): string {
  try {
    return decodeUtf8(readFileSync(file === '-' ? 0 : file));
  } catch (err) {
    throw invalidInput(`failed to read file '${file}': ${(err as Error).message}`);
  }
}

/** `NAME=VALUE` words as filter parameters (a repeated name gives a list). */
export function parseParamWords(words: readonly string[], what: string): Record<string, string[]> {
  const params: Record<string, string[]> = {};
  for (const p of words) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw invalidInput(`invalid ${what} '${p}': expected NAME=VALUE`);
    (params[p.slice(0, eq)] ??= []).push(p.slice(eq + 1));
  }
  return params;
}

/**
 * Registers a command that sends one document file to the daemon (`net-define`, ...) and prints
 * virsh's confirmation, made from the daemon's reply.
 */
export function documentCommand<R>(program: Command, name: string, description: string, what: string, send: (client: DaemonClient, xml: string, file: string) => Promise<R>, message: (reply: R, file: string) => string): void {
  program
    .command(name)
    .description(description)
    .argument('<file>', `file containing an XML ${what} description ("-": stdin)`)
    .action(async (file: string, _o, cmd: Command) => out(message(await send(DaemonClient.of(cmd), readDocument(file), file), file)));
}

type Arg = readonly [name: string, description: string];
type Opts = Record<string, unknown>;

/** Declares `args` and `options` on a new command `name`; `run` gets the argument values and options. */
function daemonCommand(program: Command, name: string, description: string, args: readonly Arg[], options: readonly Arg[], run: (client: DaemonClient, args: string[], opts: Opts) => Promise<void>): void {
  const c = program.command(name).description(description);
  for (const a of args) c.argument(...a);
  for (const o of options) c.option(...o);
  c.action(async (...params: unknown[]) => {
    const cmd = params.at(-1) as Command;
    await run(DaemonClient.of(cmd), params.slice(0, args.length) as string[], params[args.length] as Opts);
  });
}

/** A command that makes one request with its arguments and prints the line virsh prints. */
export function simpleCommand(program: Command, name: string, description: string, args: readonly Arg[], run: (client: DaemonClient, args: string[]) => Promise<string>): void {
  daemonCommand(program, name, description, args, [], async (client, a) => out(await run(client, a)));
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
}

/** A virsh list command: a table as virsh prints it, or the rows as JSON with --json. */
export function listCommand<T>(program: Command, spec: ListSpec<T>): void {
  daemonCommand(program, spec.name, spec.description, spec.args ?? [], [...(spec.options ?? []), ['--json', 'machine-readable output']], async (client, args, opts) => {
    const rows = await spec.fetch(client, args, opts);
    if (opts['json']) return outJson(rows);
    out(formatTable(spec.columns.map(([h]) => h), rows.map((r) => spec.columns.map(([, cell]) => cell(r)))));
  });
}

/** A dumpxml command: prints the `xml` of the daemon's reply at `path`. */
export function xmlCommand(program: Command, name: string, description: string, args: readonly Arg[], path: (args: string[], opts: Opts) => string, options: readonly Arg[] = []): void {
  daemonCommand(program, name, description, args, options, async (client, a, opts) => out((await client.call<{ xml: string }>('GET', path(a, opts))).xml));
}

/** virsh's `*-edit`: the XML at `xmlPath` through $EDITOR, defined again at `definePath` if changed. */
export function editCommand(program: Command, name: string, what: string, arg: Arg, xmlPath: (name: string) => string, definePath: string): void {
  daemonCommand(program, name, `edit XML configuration for a ${what.toLowerCase()} with $EDITOR`, [arg], [], async (client, [target]) => {
    const { xml } = await client.call<{ xml: string }>('GET', xmlPath(target!));
    const changed = await editDocument(xml, async (edited) => void (await client.call('POST', definePath, { xml: edited })));
    out(`${what} ${target} XML configuration ${changed ? 'edited' : 'not changed'}.\n`);
  });
}

export function out(text: string): void {
  process.stdout.write(text);
}

export function outJson(value: unknown): void {
  out(JSON.stringify(value, null, 2) + '\n');
}

/**
 * virsh's edit: dump to a temporary file, run $EDITOR (or $VISUAL, else vi) on it, and define
 * the result if it changed. Returns whether it changed.
 */
export async function editDocument(current: string, define: (xml: string) => Promise<void>): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'virtwall-edit-'));
  const file = join(dir, 'document.xml');
  try {
    writeFileSync(file, current);
    const editor = process.env['VISUAL'] || process.env['EDITOR'] || 'vi';
    const r = spawnSync('/bin/sh', ['-c', `${editor} "$1"`, 'editor', file], { stdio: 'inherit' });
    if (r.status !== 0) throw new VirtwallError('operation-failed', `editor '${editor}' failed`);
    const edited = decodeUtf8(readFileSync(file));
    if (edited === current) return false;
    await define(edited);
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

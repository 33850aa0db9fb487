// What the virsh-style commands share: reading a document argument, printing lists as tables
// or JSON, and virsh's `edit` cycle through $EDITOR.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { VirtwallError, invalidInput } from '../../errors.js';
import { DaemonClient } from '../client.js';

export function readDocument(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
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
    const edited = readFileSync(file, 'utf8');
    if (edited === current) return false;
    await define(edited);
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// What the virsh-style commands share: reading a document argument, printing lists as tables
// or JSON, and virsh's `edit` cycle through $EDITOR.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtwallError, invalidInput } from '../../errors.js';

export function readDocument(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw invalidInput(`failed to read file '${file}': ${(err as Error).message}`);
  }
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

// virsh's `*-edit` commands: the XML through $EDITOR, defined again if it changed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { VirtwallError } from '../../errors.js';
import { decodeUtf8 } from '../../xml/utf8.js';
import { type Arg, type LookupKind, lookup, virshCommand } from './daemon-io.js';

/** virsh's `*-edit`: the XML through $EDITOR, defined again by `define` if changed; named as the daemon names it. */
export function editCommand(
  program: Command,
  name: string,
  what: string,
  arg: Arg,
  kind: LookupKind,
  xmlPath: (name: string) => string,
  definePath: string,
): void {
  virshCommand(
    program,
    name,
    `edit XML configuration for a ${what.toLowerCase()} with $EDITOR`,
    [arg],
    [],
    async ({ client, args: [target], out }) => {
      let { name: current } = await lookup<{ name: string }>(client, kind, target!);
      const { xml } = await client.call<{ xml: string }>('GET', xmlPath(target!));
      const changed = await editDocument(xml, async (edited) => {
        ({ name: current } = await client.call<{ name: string }>('POST', definePath, { xml: edited }));
      });
      out.extra(`${what} ${current} XML configuration ${changed ? 'edited' : 'not changed'}.\n`);
    },
  );
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

// The completion scripts in a real shell: a function that types words after `virtwall` and
// returns what the shell would offer (sorted). The scripts run the CLI by the name typed first,
// so `virtwall` here is a small wrapper around bin/virtwall.js.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from './process.js';

/** The completion of `words` in `shell`, or undefined if the shell is not installed. */
export function completer(
  shell: 'bash' | 'zsh',
): (((words: string[]) => string[]) & { cleanup: () => void }) | undefined {
  if (spawnSync(shell, ['-c', 'true']).status !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'virtwall-completion-'));
  const wrapper = join(dir, 'virtwall');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
  chmodSync(wrapper, 0o755);
  const script = spawnSync(wrapper, ['completion', shell], { encoding: 'utf8' }).stdout;
  const q = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;
  const complete = (words: string[]) => {
    const all = [wrapper, ...words];
    const run =
      shell === 'bash'
        ? `${script}\nCOMP_WORDS=(${all.map(q).join(' ')}); COMP_CWORD=${words.length}; _virtwall; printf '%s\\n' "\${COMPREPLY[@]}"`
        : // zsh: compadd and _files stand in for the completion system, printing what they are given
          `compdef() { :; }\ncompadd() { shift; printf '%s\\n' "\${(@P)1}"; }\n_files() { :; }\n${script}\nwords=(${all.map(q).join(' ')}); CURRENT=${all.length}; _virtwall`;
    const r = spawnSync(shell, ['-c', run], { encoding: 'utf8' });
    return r.stdout
      .split('\n')
      .filter((l) => l !== '')
      .sort();
  };
  return Object.assign(complete, { cleanup: () => rmSync(dir, { recursive: true, force: true }) });
}

// The README's two quick-start commands. The first (install, then the demo) runs in a clean copy
// of the repository (the files git tracks) with nothing beside it, inside a folder closed to
// other users as root's home is. The second must be exactly the command CI runs after installing
// (`.ci/run`), so CI is the proof that it passes; running it here would run the suite inside
// the suite.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { canUseNetns } from './support/netns.js';

const repo = resolve(import.meta.dirname, '..');

/** The commands of a shell snippet: one per line, comments and blank lines left out. */
const commandsOf = (text: string): string[] =>
  text
    .split('\n')
    .map((l) => l.replace(/(^|\s)#.*/, '').trim())
    .filter(Boolean);

function quickStartCommands(): string[] {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const block = /## Quick start[^\n]*\n+```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'README has a Quick start sh block');
  return commandsOf(block);
}

it('the second quick-start command is what CI runs after installing', () => {
  const commands = quickStartCommands();
  assert.equal(commands.length, 2, `exactly two commands: ${commands.join(' | ')}`);
  const ci = commandsOf(readFileSync(join(repo, '.ci/run'), 'utf8')).filter((c) => !/^(set|cd) /.test(c));
  assert.deepEqual(ci, ['bash scripts/setup.sh', commands[1]]);
  assert.match(
    readFileSync(join(repo, 'scripts/quickstart.sh'), 'utf8'),
    /^bash scripts\/setup\.sh$/m,
    'the first command installs as CI does',
  );
});

it('the first quick-start command installs and runs the demo in a clean copy with nothing beside it', {
  skip: canUseNetns() ? false : 'needs root and ip netns',
  timeout: 20 * 60 * 1000,
}, () => {
  const [first] = quickStartCommands();
  // mkdtemp's folder is 0700, like root's home: nothing may depend on other users reading it
  const base = mkdtempSync(join(tmpdir(), 'vwt-quickstart-'));
  const copy = join(base, 'virtwall');
  try {
    const files = spawnSync('git', ['ls-files', '-z'], { cwd: repo, encoding: 'utf8' })
      .stdout.split('\0')
      .filter(Boolean);
    for (const f of files) {
      mkdirSync(dirname(join(copy, f)), { recursive: true });
      cpSync(join(repo, f), join(copy, f));
    }
    const r = spawnSync('bash', ['-c', first!], { cwd: copy, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    assert.equal(r.status, 0, `'${first}' failed:\n${(r.stdout + r.stderr).split('\n').slice(-40).join('\n')}`);
    assert.match(r.stdout, /blocked|dropped/i, 'the demo shows a blocked spoof');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

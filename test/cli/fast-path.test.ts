// src/cli/fast-path.ts: which command lines the fast path takes (only the plain form; every
// other goes to the program), and its table against the program's own definitions of the same
// commands. That both print alike is test/cli/bundle.test.ts's (real processes).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from 'commander';
import { FAST_COMMANDS, fastCommand } from '../../src/cli/fast-path.js';
import { buildProgram } from '../../src/cli/program.js';
import { isVirsh } from '../../src/cli/virsh.js';

const taken = (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = fastCommand(args, env);
  return r && { words: r.command.words.join(' '), root: r.root, quiet: r.quiet, operands: r.operands };
};

describe('the fast path', () => {
  it('takes the plain form of its commands: --root and -q before the words, then operands', () => {
    assert.deepEqual(taken(['nwfilter-binding-create', 'b.xml']), {
      words: 'nwfilter-binding-create',
      root: '/',
      quiet: false,
      operands: ['b.xml'],
    });
    assert.deepEqual(taken(['--root', '/r', '-q', '--root=/s', '--quiet', 'nwfilter-binding-delete', 'vnet0']), {
      words: 'nwfilter-binding-delete',
      root: '/s',
      quiet: true,
      operands: ['vnet0'],
    });
    assert.deepEqual(taken(['--root', '/r', 'hook', 'libvirt-qemu', 'g0', 'started', 'begin', '-']), {
      words: 'hook libvirt-qemu',
      root: '/r',
      quiet: false,
      operands: ['g0', 'started', 'begin', '-'],
    });
    assert.deepEqual(taken(['nwfilter-binding-create', '-'])?.operands, ['-'], "'-' is stdin, an operand");
    assert.deepEqual(taken(['--root', '/r', 'daemon']), { words: 'daemon', root: '/r', quiet: false, operands: [] });
  });

  it('leaves every other command line to the program', () => {
    for (const args of [
      [],
      ['--help'],
      ['-v'],
      ['nwfilter-list'],
      ['help', 'nwfilter-binding-create'],
      ['nwfilter-binding-create'],
      ['nwfilter-binding-create', 'a.xml', 'b.xml'],
      ['nwfilter-binding-create', '--validate', 'a.xml'],
      ['nwfilter-binding-create', 'a.xml', '--root', '/r'],
      ['nwfilter-binding-create', '--help'],
      ['nwfilter-binding-delete', '--', 'vnet0'],
      ['-c', 'tls://h', 'nwfilter-binding-delete', 'vnet0'],
      ['--connect=tls://h', 'nwfilter-binding-delete', 'vnet0'],
      ['--root'],
      ['--root', '-q', 'nwfilter-binding-delete', 'vnet0'],
      ['-qv', 'nwfilter-binding-delete', 'vnet0'],
      ['hook'],
      ['hook', 'qemu-ifup'],
      ['hook', 'libvirt-qemu', 'g0'],
      ['hook', 'qemu-ifdown', 'vnet0', 'x'],
      ['daemon', 'x'],
      ['daemon', '--help'],
    ])
      assert.equal(taken(args), undefined, args.join(' '));
    assert.equal(
      taken(['nwfilter-binding-delete', 'vnet0'], { VIRTWALL_DEFAULT_URI: 'tls://h' }),
      undefined,
      "the program reads --connect's default",
    );
  });

  it("each of its commands takes the operands the program's command takes, and prints as it does", () => {
    const program = buildProgram();
    for (const fast of FAST_COMMANDS) {
      const cmd = fast.words.reduce<Command | undefined>((c, w) => c?.commands.find((s) => s.name() === w), program);
      assert.ok(cmd, `${fast.words.join(' ')} is a command of the program`);
      const args = cmd.registeredArguments;
      const min = args.filter((a) => a.required).length;
      const max = args.at(-1)?.variadic ? Number.POSITIVE_INFINITY : args.length;
      assert.deepEqual(fast.operands, [min, max], fast.words.join(' '));
      assert.equal(fast.virsh, isVirsh(cmd), fast.words.join(' '));
      assert.deepEqual(
        cmd.options.filter((o) => o.mandatory).map((o) => o.flags),
        [],
        'no option it must be given',
      );
    }
  });
});

// How virsh prints (tools/vsh.c, tools/virsh.c): data always; confirmations ("Network x started")
// only without -q (vshPrintExtra); a blank line after every command unless -q; failures as
// `error: <what failed>` then `error: <libvirt's reason>` on stderr, exit status 1.
import type { Command } from 'commander';
import { formatTable } from './table.js';

/** A virsh-style failure: the line virsh prints for what failed (if any), then the reason. */
export class VirshError extends Error {
  constructor(
    readonly context: string | undefined,
    readonly reason?: string,
    /** 1, except where virsh reports a failure and still exits 0. */
    readonly exitCode = 1,
  ) {
    super([context, reason].filter((l) => l !== undefined).join(': '));
  }

  /** virsh's stderr for this failure. */
  lines(): string {
    return [this.context, this.reason]
      .filter((l) => l !== undefined)
      .map((l) => `error: ${l}\n`)
      .join('');
  }
}

/** Runs `work`; a failure becomes virsh's `context` line followed by the failure's own message. */
export async function failing<T>(context: string, work: Promise<T> | (() => Promise<T> | T)): Promise<T> {
  try {
    return await (typeof work === 'function' ? work() : work);
  } catch (err) {
    if (err instanceof VirshError) throw err;
    throw new VirshError(context, (err as Error).message);
  }
}

export interface VirshOutput {
  readonly quiet: boolean;
  /** vshPrint: data, printed even with -q. */
  print(text: string): void;
  /** vshPrintExtra: confirmations, left out with -q. */
  extra(text: string): void;
  /** vshTablePrintToStdout: the header only without -q. */
  table(header: readonly string[], rows: readonly (readonly string[])[]): void;
}

/** virsh's output, quiet with -q. */
export function virshOutput(quiet: boolean): VirshOutput {
  const print = (text: string) => void process.stdout.write(text);
  return {
    quiet,
    print,
    extra: (text) => quiet || print(text),
    table: (header, rows) => print(formatTable(header, rows, !quiet)),
  };
}

/** Commands that print as virsh does (marked by the command factories, read by main). */
const VIRSH_COMMANDS = new WeakSet<Command>();

/** Commander's hooks for bad command lines (methods it calls; not in its typings). */
interface ParseFailures {
  missingArgument(name: string): never;
  optionMissingArgument(option: { long?: string; flags: string }): never;
  unknownOption(flag: string): never;
  _excessArguments(received: string[]): never;
  _conflictingOption(option: { long?: string }, conflicting: { long?: string }): never;
}

/** Marks `cmd` as virsh-style: bad command lines fail with virsh's words (tools/vsh.c). */
export function markVirsh(cmd: Command): Command {
  VIRSH_COMMANDS.add(cmd);
  const hooks = cmd as unknown as ParseFailures;
  hooks.missingArgument = (name) => {
    throw new VirshError(`command '${cmd.name()}' requires <${name}> option`);
  };
  hooks.optionMissingArgument = (option) => {
    throw new VirshError(`expected syntax: ${option.long ?? option.flags} <string>`);
  };
  hooks.unknownOption = (flag) => {
    throw new VirshError(`command '${cmd.name()}' doesn't support option ${flag}`);
  };
  hooks._conflictingOption = (option, conflicting) => {
    throw new VirshError(`Options ${option.long} and ${conflicting.long} are mutually exclusive`);
  };
  hooks._excessArguments = (received) => {
    if (received.length <= cmd.registeredArguments.length) return undefined as never;
    throw new VirshError(`unexpected data '${received[cmd.registeredArguments.length]}'`);
  };
  return cmd;
}

export const isVirsh = (cmd: Command): boolean => VIRSH_COMMANDS.has(cmd);

/** virsh's strcasecmp order of names (vshStrcasecmp: ASCII case folded, bytes compared). */
export function byNameCase(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

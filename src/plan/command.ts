// Firewall commands as pure data, and their rendering in libvirt's test-harness format
// (virCommandToStringFull with line breaks): one argument per line, except that an option
// ("-x"/"--xyz") and the value that follows it share a line; lines joined with " \\\n".

export interface FirewallCommand {
  argv: readonly string[];
  /** libvirt runs some commands with errors ignored (deleting what may not exist). */
  ignoreErrors: boolean;
}

export function command(argv: readonly string[], ignoreErrors = false): FirewallCommand {
  return { argv, ignoreErrors };
}

const SHELL_SAFE = /^[A-Za-z0-9_.,:/@%+=-]+$/;

/** libvirt's virBufferEscapeShell: quote with single quotes when anything is not shell-safe. */
export function shellEscape(arg: string): string {
  if (arg !== '' && SHELL_SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function renderCommand(argv: readonly string[]): string {
  let out = '';
  let prevWasOption = false;
  argv.forEach((arg, i) => {
    const isOption = arg.startsWith('-');
    if (i > 0) out += isOption || !prevWasOption ? ' \\\n' : ' ';
    out += shellEscape(arg);
    prevWasOption = isOption;
  });
  return `${out}\n`;
}

/** One command on one line (virCommandToString without line breaks): what libvirt's test
 *  harness compares once the data file's backslash-newline continuations are removed. */
export function renderCommandLine(argv: readonly string[]): string {
  return argv.map(shellEscape).join(' ');
}

export function renderCommands(cmds: readonly FirewallCommand[]): string {
  return cmds.map((c) => renderCommand(c.argv)).join('');
}

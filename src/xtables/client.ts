// The one way virtwall talks to xtables (iptables, ip6tables, ebtables): read tables with
// `*-save` into typed rules, load changes as `*-restore --noflush` input on stdin. Both run
// through a CommandRunner, so a runner bound to a network namespace keeps them there.
import { VirtwallError } from '../errors.js';
import type { CommandRunner } from '../exec/runner.js';
import { renderRestore, type RestoreTable } from './restore.js';
import type { XtTool } from './rule.js';
import { parseSave, type XtRuleset, type XtTable } from './save.js';

/** Each tool's commands (the nf_tables variants take the xtables lock themselves; -w is kept for legacy ones). */
const COMMANDS: Record<XtTool, { save: string; restore: readonly string[] }> = {
  iptables: { save: 'iptables-save', restore: ['iptables-restore', '-w', '--noflush'] },
  ip6tables: { save: 'ip6tables-save', restore: ['ip6tables-restore', '-w', '--noflush'] },
  ebtables: { save: 'ebtables-save', restore: ['ebtables-restore', '--noflush'] },
};

export class XtablesClient {
  constructor(private readonly runner: CommandRunner) {}

  /** The tool's tables (only `table` when given; a table that does not exist is absent). */
  async save(tool: XtTool, table?: string): Promise<XtRuleset> {
    const argv = [COMMANDS[tool].save, ...(table !== undefined ? ['-t', table] : [])];
    const r = await this.runner.run(argv);
    if (r.status !== 0)
      throw new VirtwallError(
        'operation-failed',
        `${argv.join(' ')} failed with status ${r.status}: ${r.stderr.trim()}`,
      );
    return parseSave(r.stdout);
  }

  /** One table of the tool, if it exists. */
  async table(tool: XtTool, table: string): Promise<XtTable | undefined> {
    return (await this.save(tool, table)).get(table);
  }

  /** Loads `tables` (each one transaction); throws with the tool's error. Nothing to load: nothing runs. */
  async restore(tool: XtTool, tables: readonly RestoreTable[]): Promise<void> {
    const script = renderRestore(tool, tables);
    if (script === '') return;
    const r = await this.runner.run(COMMANDS[tool].restore, script);
    if (r.status !== 0)
      throw new VirtwallError(
        'operation-failed',
        `${COMMANDS[tool].restore.join(' ')} failed with status ${r.status}: ${r.stderr.trim()}`,
      );
  }
}

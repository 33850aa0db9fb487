// `*-restore --noflush` input rendered from typed rules: the one writer of xtables scripts. A
// script is a list of tables, each with its lines; the tool commits each table as one
// transaction (nothing of a table is applied when one of its lines fails).
import { ruleArgs, type XtRule, type XtTool } from './rule.js';

export type RestoreLine =
  /** Creates the user chain; with --noflush an existing one is flushed. */
  | { declare: string }
  | { append: XtRule }
  /** At `position` (1: the top, the default). */
  | { insert: XtRule; position?: number }
  | { delete: XtRule }
  | { deleteChain: string };

export interface RestoreTable {
  table: string;
  lines: readonly RestoreLine[];
}

/** How each tool declares a user chain in restore input. */
const DECLARE: Record<XtTool, (chain: string) => string> = {
  iptables: (chain) => `:${chain} - [0:0]`,
  ip6tables: (chain) => `:${chain} - [0:0]`,
  ebtables: (chain) => `:${chain} ACCEPT`,
};

/** Values the tools always print quoted (free text). */
const QUOTED = new Set(['--comment', '--log-prefix', '--nflog-prefix']);
const PLAIN = new Set('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.,:/@%+=!-[]');

const needsQuotes = (word: string) => word === '' || [...word].some((c) => !PLAIN.has(c));
const quoted = (word: string) => `"${word.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;

/** A rule's words in restore syntax: free text and anything beyond plain characters quoted. */
function specWords(rule: XtRule, tool: XtTool): string[] {
  const args = ruleArgs(rule, tool);
  return args.map((w, i) => (QUOTED.has(args[i - 1] ?? '') || (needsQuotes(w) && w !== '!') ? quoted(w) : w));
}

/** The rule as its `*-save` line (`-A CHAIN SPEC`). */
export const saveLine = (rule: XtRule, tool: XtTool): string => ['-A', rule.chain, ...specWords(rule, tool)].join(' ');

function renderLine(l: RestoreLine, tool: XtTool): string {
  if ('declare' in l) return DECLARE[tool](l.declare);
  if ('deleteChain' in l) return `-X ${l.deleteChain}`;
  if ('append' in l) return saveLine(l.append, tool);
  if ('delete' in l) return ['-D', l.delete.chain, ...specWords(l.delete, tool)].join(' ');
  return ['-I', l.insert.chain, String(l.position ?? 1), ...specWords(l.insert, tool)].join(' ');
}

/** The restore input for `tables` (empty when no table has a line). */
export function renderRestore(tool: XtTool, tables: readonly RestoreTable[]): string {
  return tables
    .filter((t) => t.lines.length > 0)
    .map((t) => [`*${t.table}`, ...t.lines.map((l) => renderLine(l, tool)), 'COMMIT', ''].join('\n'))
    .join('');
}

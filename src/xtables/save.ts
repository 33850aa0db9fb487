// Reading `*-save` output (iptables-save, ip6tables-save, ebtables-save) into typed tables,
// chains and rules: the one parser of xtables listings. The three tools print the same layout:
// `*TABLE`, one `:CHAIN POLICY [counters]` line per chain, `-A CHAIN SPEC` per rule, `COMMIT`.
import { VirtwallError } from '../errors.js';
import { parseRuleWords, type Word, type XtRule } from './rule.js';

export interface XtChain {
  name: string;
  /** A built-in chain's policy (`ACCEPT`, `DROP`); none for a user chain (iptables prints `-`). */
  policy?: string;
}

export interface XtTable {
  name: string;
  chains: readonly XtChain[];
  /** Every rule of the table, chain by chain, each chain's in order. */
  rules: readonly XtRule[];
}

/** A listing: the tables it holds, by name. */
export type XtRuleset = ReadonlyMap<string, XtTable>;

/**
 * The words of a line as the tools write them: separated by blanks; a double-quoted word may
 * hold blanks, with `\"` and `\\` inside standing for `"` and `\`.
 */
export function splitWords(line: string): Word[] {
  const out: Word[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '"') {
      let text = '';
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && i + 1 < line.length) i++;
        text += line[i];
      }
      if (i >= line.length) throw new Error(`unterminated quote in '${line}'`);
      i++;
      out.push({ text, quoted: true });
    } else {
      let j = i;
      while (j < line.length && line[j] !== ' ' && line[j] !== '\t') j++;
      out.push({ text: line.slice(i, j), quoted: false });
      i = j;
    }
  }
  return out;
}

/** One `-A CHAIN SPEC` line as a rule. */
export function parseRuleLine(line: string): XtRule {
  const [verb, chain, ...spec] = splitWords(line);
  if (verb?.text !== '-A' || chain === undefined) throw new Error(`not a rule line: '${line}'`);
  return parseRuleWords(chain.text, spec);
}

/**
 * The rules of `chain` in `ebtables -L CHAIN` output: after its `Bridge table:` and `Bridge chain:`
 * headers, one rule per line in the syntax of `*-save`, without `-A CHAIN`.
 */
export function parseChainListing(chain: string, text: string): XtRule[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('-') || line.startsWith('!'))
    .map((line) => parseRuleWords(chain, splitWords(line)));
}

/** The tables of a `*-save` listing. Throws on a line the tools do not write. */
export function parseSave(text: string): XtRuleset {
  const tables = new Map<string, { name: string; chains: XtChain[]; rules: XtRule[] }>();
  let table: { name: string; chains: XtChain[]; rules: XtRule[] } | undefined;
  text.split('\n').forEach((line, n) => {
    try {
      if (line.trim() === '' || line.startsWith('#') || line === 'COMMIT') return;
      if (line.startsWith('*')) {
        const name = line.slice(1).trim();
        table = tables.get(name) ?? { name, chains: [], rules: [] };
        tables.set(name, table);
        return;
      }
      if (!table) throw new Error('a line outside a table');
      if (line.startsWith(':')) {
        const [name, policy] = line.slice(1).split(' ');
        table.chains.push({ name: name!, ...(policy !== undefined && policy !== '-' ? { policy } : {}) });
      } else {
        table.rules.push(parseRuleLine(line));
      }
    } catch (err) {
      throw new VirtwallError(
        'operation-failed',
        `unreadable *-save listing, line ${n + 1}: ${(err as Error).message}`,
      );
    }
  });
  return tables;
}

/** The rules of one chain of a table, in order. */
export const rulesIn = (table: XtTable | undefined, chain: string): XtRule[] =>
  (table?.rules ?? []).filter((r) => r.chain === chain);

/** Whether the table has a chain of that name. */
export const hasChain = (table: XtTable | undefined, chain: string): boolean =>
  (table?.chains ?? []).some((c) => c.name === chain);

// xtables rules as values: a rule is its chain, its matches (the base match, then one per `-m`
// module) and its target, each a list of options with their values, in the order `*-save`
// prints them. What the kernel lists and what we load are held in these types, so rules compare
// by value (deep equality); text exists only where a rule is rendered (ruleArgs, restore.ts) or
// read (save.ts).
import { isDeepStrictEqual } from 'node:util';

/** The three tools, each with its own kernel tables. */
export type XtTool = 'iptables' | 'ip6tables' | 'ebtables';

export interface XtOption {
  /** As `*-save` prints it (`-s`, `--dport`, `--ctstate`). */
  name: string;
  values: readonly string[];
  negated?: true;
}

export interface XtMatch {
  /** The `-m` module; none for the base match (addresses, interfaces, protocol). */
  module?: string;
  options: readonly XtOption[];
}

export interface XtTarget {
  name: string;
  /** `-g` (goto) instead of `-j` (jump). */
  goto?: true;
  options: readonly XtOption[];
}

export interface XtRule {
  chain: string;
  matches: readonly XtMatch[];
  target?: XtTarget;
}

/** One option: `opt('-s', '10.0.0.0/24')`, negated with `{ ...opt(...), negated: true }`. */
export const opt = (name: string, ...values: string[]): XtOption => ({ name, values });
export const not = (o: XtOption): XtOption => ({ ...o, negated: true });

/** How the tools place a negation: iptables before the option, ebtables after its name. */
export const NEGATION: Record<XtTool, 'before' | 'after'> = {
  iptables: 'before',
  ip6tables: 'before',
  ebtables: 'after',
};

/** Options that structure a rule rather than match: they open a match or name the target. */
const STRUCTURE: Record<string, 'match' | 'jump' | 'goto'> = {
  '-m': 'match',
  '--match': 'match',
  '-j': 'jump',
  '--jump': 'jump',
  '-g': 'goto',
  '--goto': 'goto',
};

/** A word of a rule: quoted words are values whatever they start with. */
export interface Word {
  text: string;
  quoted: boolean;
}

const isOption = (w: Word | undefined) => w !== undefined && !w.quoted && w.text.length > 1 && w.text.startsWith('-');
const isBang = (w: Word | undefined) => w !== undefined && !w.quoted && w.text === '!';

/** The rule in `chain` whose specification (everything after `-A CHAIN`) is `words`. */
export function parseRuleWords(chain: string, words: readonly Word[]): XtRule {
  const matches: { module?: string; options: XtOption[] }[] = [{ options: [] }];
  let target: { name: string; goto?: true; options: XtOption[] } | undefined;
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(
      `xtables rule in chain ${chain}: ${what} at word ${i + 1} of '${words.map((w) => w.text).join(' ')}'`,
    );
  };
  while (i < words.length) {
    let negated = isBang(words[i]);
    if (negated) i++;
    const name = words[i];
    if (!isOption(name)) fail('expected an option');
    i++;
    const structure = STRUCTURE[name!.text];
    if (structure !== undefined) {
      const value = words[i++] ?? fail(`${name!.text} without a value`);
      if (structure === 'match') matches.push({ module: value.text, options: [] });
      else target = { name: value.text, ...(structure === 'goto' ? { goto: true as const } : {}), options: [] };
      continue;
    }
    if (isBang(words[i])) {
      negated = true;
      i++;
    }
    const values: string[] = [];
    while (i < words.length && !isOption(words[i]) && !isBang(words[i])) values.push(words[i++]!.text);
    const option: XtOption = { name: name!.text, values, ...(negated ? { negated: true as const } : {}) };
    (target?.options ?? matches.at(-1)!.options).push(option);
  }
  return {
    chain,
    matches: matches.filter((m) => m.module !== undefined || m.options.length > 0),
    ...(target ? { target } : {}),
  };
}

function optionArgs(o: XtOption, tool: XtTool): string[] {
  if (!o.negated) return [o.name, ...o.values];
  return NEGATION[tool] === 'before' ? ['!', o.name, ...o.values] : [o.name, '!', ...o.values];
}

/** The rule's specification as arguments (after `-A CHAIN`), in the order `*-save` prints it. */
export function ruleArgs(rule: XtRule, tool: XtTool): string[] {
  const out: string[] = [];
  for (const m of rule.matches) {
    if (m.module !== undefined) out.push('-m', m.module);
    for (const o of m.options) out.push(...optionArgs(o, tool));
  }
  if (rule.target) {
    out.push(rule.target.goto ? '-g' : '-j', rule.target.name);
    for (const o of rule.target.options) out.push(...optionArgs(o, tool));
  }
  return out;
}

/** The rule's comment (`-m comment --comment TEXT`), if it has one. */
export function commentOf(rule: XtRule): string | undefined {
  return rule.matches.find((m) => m.module === 'comment')?.options.find((o) => o.name === '--comment')?.values[0];
}

/** The value of the first option named one of `names` in the rule's matches. */
export function optionValue(rule: XtRule, names: readonly string[]): string | undefined {
  for (const m of rule.matches) for (const o of m.options) if (names.includes(o.name)) return o.values[0];
  return undefined;
}

/** Whether two rules are the same rule (chain, matches and target, field by field). */
export function sameRule(a: XtRule, b: XtRule): boolean {
  return isDeepStrictEqual(a, b);
}

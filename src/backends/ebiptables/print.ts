// How the ebiptables driver prints a rule's values on the command line (printDataType): a value
// from a variable exactly as given; numbers in decimal unless the option wants hex; addresses in
// canonical form; masks as prefix lengths.
import { formatLiteral } from '../../conf/nwfilter/datatypes.js';
import type { ResolvedAttr, ResolvedRule } from '../../nwfilter/instantiate.js';

export function printValue(attr: ResolvedAttr, asHex = false): string {
  const v = attr.value;
  if (v.kind === 'text') return v.text;
  if (v.kind === 'number') return asHex ? `0x${v.value.toString(16)}` : String(v.value);
  return formatLiteral(v);
}

/** Collects one command's arguments; `!` is added where an attribute is negated. */
export class ArgList {
  readonly args: string[] = [];

  constructor(private readonly rule: ResolvedRule) {}

  has(name: string): boolean {
    return this.rule.attrs[name] !== undefined;
  }

  attr(name: string): ResolvedAttr | undefined {
    return this.rule.attrs[name];
  }

  push(...args: string[]): this {
    this.args.push(...args);
    return this;
  }

  /** `!` when attribute `name` is negated. */
  not(name: string): this {
    if (this.rule.attrs[name]?.negated) this.args.push('!');
    return this;
  }

  /** `value` or `value<sep>second` when attribute `second` is present. */
  joined(name: string, second: string, sep: string, asHex = false): string {
    const a = printValue(this.attr(name)!, asHex);
    const b = this.attr(second);
    return b ? `${a}${sep}${printValue(b, asHex)}` : a;
  }
}

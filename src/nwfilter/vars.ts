// nwfilter variables: values (one string or a list), accesses ($X, $X[n], $X[@n]) and the
// iteration over all combinations of the values a rule uses, with libvirt's semantics
// (virNWFilterVarCombIter): accesses sharing an iterator id walk their lists in parallel,
// different iterators form a cross product with the lowest iterator varying fastest, and a
// combination already produced for an iterator is skipped.
import { formatVarRef } from '../conf/nwfilter/varref.js';
import type { VarRef } from '../conf/nwfilter/types.js';
import { invalidInput } from '../errors.js';

/** A variable's value; a single value is a list of one. Never empty. */
export type VarValue = readonly string[];
export type VarTable = ReadonlyMap<string, VarValue>;

/** Characters libvirt accepts in a variable value (VALID_VARVALUE). */
const VAR_VALUE = /^[A-Za-z0-9_.:]+$/;

export function isValidVarValue(value: string): boolean {
  return VAR_VALUE.test(value);
}

/** Whether the access can be resolved from `vars` (virNWFilterVarAccessIsAvailable). */
export function isVarRefAvailable(a: VarRef, vars: VarTable): boolean {
  const value = vars.get(a.name);
  if (value === undefined) return false;
  return a.kind === 'iterator' || a.index < value.length;
}

/** The value of each access of a rule in one combination, keyed by formatVarRef(). */
export type VarBinding = ReadonlyMap<string, string>;

/** The most instances one rule may expand to (the product of its variables' distinct values): bounds the work of one binding. */
export const MAX_COMBINATIONS = 20_000;

interface IteratorState {
  names: string[];
  min: number;
  max: number;
  cur: number;
  /** The indices it visits (each first occurrence of its lists' values), and where it is in them. */
  visits?: number[];
  pos?: number;
}

/**
 * Every combination of values for `accesses` (in the rule's access order), as libvirt's
 * virNWFilterVarCombIterCreate/Next enumerate them. A rule without variables yields one empty
 * binding. Throws invalid-input for unknown variables, out-of-range elements and lists of
 * different lengths under one iterator.
 */
export function varCombinations(vars: VarTable, accesses: readonly VarRef[]): VarBinding[] {
  // every access reads the one value of its list (a port's MAC, its IP): one combination
  if (accesses.every((a) => vars.get(a.name)?.length === 1 && (a.kind === 'iterator' || a.index === 0)))
    return [new Map(accesses.map((a) => [formatVarRef(a), vars.get(a.name)![0]!]))];
  // Iterator 0 always exists first (it backs plain `$X`); each element access gets its own.
  const iterators: IteratorState[] = [{ names: [], min: 0, max: 0, cur: 0 }];
  const byIterId = new Map<number, IteratorState>([[0, iterators[0]!]]);
  const stateOf = new Map<string, IteratorState>();

  for (const access of accesses) {
    const value = vars.get(access.name);
    if (value === undefined) throw invalidInput(`no value for variable '${access.name}'`);
    let it: IteratorState;
    let min: number;
    let max: number;
    if (access.kind === 'iterator') {
      it = byIterId.get(access.iterId) ?? { names: [], min: 0, max: 0, cur: 0 };
      if (!byIterId.has(access.iterId)) {
        byIterId.set(access.iterId, it);
        iterators.push(it);
      }
      min = 0;
      max = value.length - 1;
    } else {
      if (access.index >= value.length) {
        throw invalidInput(`variable '${access.name}' has no element ${access.index} (it has ${value.length})`);
      }
      it = { names: [], min: 0, max: 0, cur: 0 };
      iterators.push(it);
      min = max = access.index;
    }
    if (it.names.length === 0) {
      it.min = min;
      it.max = max;
      it.cur = min;
    } else if (it.max !== max) {
      const other = it.names[0]!;
      throw invalidInput(
        `lists iterated in parallel must have the same length: '${other}' has ${vars.get(other)!.length} values, '${access.name}' has ${value.length}`,
      );
    }
    if (!it.names.includes(access.name)) it.names.push(access.name);
    stateOf.set(formatVarRef(access), it);
  }

  const combinations = iterators.reduce((n, it) => {
    it.visits ??= firstOccurrences(it, vars);
    return n * it.visits.length;
  }, 1);
  if (combinations > MAX_COMBINATIONS) {
    throw invalidInput(
      `the values of ${[...new Set(accesses.map((a) => a.name))].join(', ')} give ${combinations} combinations for one rule; at most ${MAX_COMBINATIONS} are allowed`,
    );
  }
  const reads = accesses.map((a) => {
    const key = formatVarRef(a);
    return { key, values: vars.get(a.name)!, state: stateOf.get(key)! };
  });
  const out: VarBinding[] = [];
  for (;;) {
    const binding = new Map<string, string>();
    for (const { key, values, state } of reads) binding.set(key, values[state.cur]!);
    out.push(binding);
    if (!advance(iterators, vars)) return out;
  }
}

/** Odometer step; false when every combination has been produced. */
function advance(iterators: IteratorState[], vars: VarTable): boolean {
  for (const it of iterators) {
    it.visits ??= firstOccurrences(it, vars);
    const visits = it.visits;
    it.pos = (it.pos ?? 0) + 1;
    if (it.pos < visits.length) {
      it.cur = visits[it.pos]!;
      return true;
    }
    it.pos = 0;
    it.cur = it.min;
  }
  return false;
}

/**
 * The indices min..max skipping any at which all the iterator's lists repeat the values of an
 * earlier index (libvirt compares with every earlier index; a set of seen tuples gives the same
 * in linear time: 20,000 values took 34 s the quadratic way).
 */
function firstOccurrences(it: IteratorState, vars: VarTable): number[] {
  const lists = it.names.map((n) => vars.get(n)!);
  const seen = new Set<string>();
  const out: number[] = [];
  for (let i = it.min; i <= it.max; i++) {
    const key = lists.length === 1 ? lists[0]![i]! : JSON.stringify(lists.map((l) => l[i]));
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(i);
  }
  return out;
}

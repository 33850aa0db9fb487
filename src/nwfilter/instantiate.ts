// Instantiating a filter for one interface, backend-neutral and pure: the filter tree is walked
// depth first (a <filterref>'s rules inline, in document order), each rule gets the variables
// visible where it sits, and every combination of the values of the variables it uses becomes
// one fully resolved rule. Mirrors libvirt's nwfilter_gentech_driver.c.
import { invalidInput, VirtwallError } from '../errors.js';
import type {
  AttrLiteral,
  ChainKind,
  FilterDef,
  FilterParams,
  RuleDef,
  RuleDirection,
  RuleAction,
  ProtocolName,
  VarRef,
} from '../conf/nwfilter/types.js';
import type { FilterSource } from './source.js';
import { checkVarValue } from './check-var.js';
import { formatVarRef } from '../conf/nwfilter/varref.js';
import { isVarRefAvailable, varCombinations, type VarBinding, type VarTable, type VarValue } from './vars.js';

/** A value that came from a variable: printed exactly as given, as libvirt does. */
export interface VarText {
  kind: 'text';
  text: string;
  /** The access it came from, e.g. `A[@1]`. */
  variable: string;
}

export interface ResolvedAttr {
  value: AttrLiteral | VarText;
  negated: boolean;
}

/** One concrete rule: every variable replaced by one of its values. */
export interface ResolvedRule {
  action: RuleAction;
  direction: RuleDirection;
  stateMatch: boolean;
  protocol?: ProtocolName;
  attrs: Partial<Record<string, ResolvedAttr>>;
}

export interface RuleInstance {
  /** Names of the filters from the instantiated one down to the one holding the rule. */
  path: readonly string[];
  chain: string;
  chainKind: ChainKind;
  chainPriority: number;
  /** The rule's own priority (-1000..1000). */
  priority: number;
  rule: RuleDef;
  /** The rule once per combination of its variables' values, in libvirt's iteration order. */
  expansions: readonly ResolvedRule[];
}

export interface InstantiateOptions {
  /**
   * Called with the variable accesses nothing defines (e.g. `IP` before it was learned); may
   * return values for them. The seam for IP address learning; without it they are an error.
   */
  resolveMissing?: (missing: readonly string[]) => ReadonlyMap<string, VarValue> | undefined;
}

/** Libvirt's merge for a <filterref>: its parameters, overridden by the inherited variables. */
function refVars(params: FilterParams, inherited: VarTable): VarTable {
  // most references pass no parameters: the variables are the inherited ones (tables are values)
  if (params.size === 0) return inherited;
  const merged = new Map<string, VarValue>(params);
  for (const [k, v] of inherited) merged.set(k, v);
  return merged;
}

type Visit = (rule: RuleDef, def: FilterDef, vars: VarTable, path: readonly string[]) => void;

/**
 * Filter paths, one array per path for every port that walks it (paths are names only): the
 * root's by its name, a child's by its parent's array and its name.
 */
const rootPaths = new Map<string, readonly string[]>();
const childPaths = new WeakMap<readonly string[], Map<string, readonly string[]>>();

function rootPath(name: string): readonly string[] {
  let path = rootPaths.get(name);
  if (!path) {
    path = [name];
    rootPaths.set(name, path);
  }
  return path;
}

function childPath(parent: readonly string[], name: string): readonly string[] {
  let children = childPaths.get(parent);
  if (!children) {
    children = new Map();
    childPaths.set(parent, children);
  }
  let path = children.get(name);
  if (!path) {
    path = [...parent, name];
    children.set(name, path);
  }
  return path;
}

function walk(def: FilterDef, vars: VarTable, source: FilterSource, path: readonly string[], visit: Visit): void {
  for (const entry of def.entries) {
    if (entry.kind === 'rule') {
      visit(entry, def, vars, path);
      continue;
    }
    if (path.includes(entry.filter)) {
      const chain = [...path, entry.filter].join(' -> ');
      throw invalidInput(`filter reference loop: ${chain}`, { ...entry.source, attribute: 'filter' });
    }
    const child = source.lookup(entry.filter);
    if (!child) {
      const chain = [...path, entry.filter].join(' -> ');
      throw new VirtwallError('not-found', `referenced filter '${entry.filter}' does not exist (${chain})`, {
        ...entry.source,
        attribute: 'filter',
      });
    }
    walk(child, refVars(entry.params, vars), source, childPath(path, entry.filter), visit);
  }
}

/**
 * One walk of `root`'s tree with `vars`: every variable access some rule cannot resolve (-> the
 * filter path first using it) and, while none is missing, each rule's instance. What expanding
 * a rule throws is kept (`failed`), not thrown, so that an unresolvable variable further on is
 * still the error reported, as when the tree was walked for those first; what walking throws (a
 * loop, a missing filter) is thrown at once.
 */
function walkTree(root: FilterDef, vars: VarTable, source: FilterSource, expandRules: boolean) {
  const missing = new Map<string, readonly string[]>();
  const instances: RuleInstance[] = [];
  let failed: { error: unknown } | undefined;
  const fits = new Map<string, Map<string, boolean>>();
  walk(root, vars, source, rootPath(root.name), (rule, def, ruleVars, path) => {
    for (const v of rule.variables) {
      if (isVarRefAvailable(v, ruleVars)) continue;
      const name = formatVarRef(v);
      if (!missing.has(name)) missing.set(name, path);
    }
    if (!expandRules || missing.size > 0 || failed) return;
    try {
      instances.push(instanceOf(rule, def, path, ruleVars, fits));
    } catch (error) {
      failed = { error };
    }
  });
  return { missing, instances, failed };
}

/** A rule without variables has the same instance for every port that reaches it by the same path. */
const literalInstances = new WeakMap<RuleDef, Map<readonly string[], RuleInstance>>();

function instanceOf(
  rule: RuleDef,
  def: FilterDef,
  path: readonly string[],
  vars: VarTable,
  fits: Map<string, Map<string, boolean>>,
): RuleInstance {
  const known = rule.variables.length === 0 ? literalInstances.get(rule)?.get(path) : undefined;
  if (known && known.chain === def.chain && known.chainKind === def.chainKind && known.chainPriority === def.priority)
    return known;
  const instance: RuleInstance = {
    path,
    chain: def.chain,
    chainKind: def.chainKind,
    chainPriority: def.priority,
    priority: rule.priority,
    rule,
    expansions: expand(rule, vars, path, fits),
  };
  if (rule.variables.length === 0) {
    const byPath = literalInstances.get(rule) ?? literalInstances.set(rule, new Map()).get(rule)!;
    byPath.set(path, instance);
  }
  return instance;
}

/** The variable accesses of `root`'s tree that `vars` leave unresolved (throws what walking throws). */
export function unresolvedVariables(root: FilterDef, vars: VarTable, source: FilterSource): string[] {
  return [...walkTree(root, vars, source, false).missing.keys()];
}

/**
 * The rule instances of `root` for the variables `vars` (the binding's parameters, with the
 * reserved MAC/IP/... already filled in by the caller). Throws invalid-input for loops,
 * unresolvable variables, lists of different lengths under one iterator and variable values
 * that do not fit the attribute they are used for; not-found for missing filters.
 */
export function instantiate(
  root: FilterDef,
  vars: VarTable,
  source: FilterSource,
  opts: InstantiateOptions = {},
): RuleInstance[] {
  let walked = walkTree(root, vars, source, true);
  if (walked.missing.size > 0 && opts.resolveMissing) {
    const extra = opts.resolveMissing([...walked.missing.keys()]);
    if (extra) walked = walkTree(root, new Map([...vars, ...extra]), source, true);
  }
  if (walked.missing.size > 0) {
    const list = [...walked.missing].map(([name, path]) => `${name} (in ${path.join(' -> ')})`).join(', ');
    throw invalidInput(
      `cannot instantiate filter '${root.name}': unresolvable variables or unavailable list elements: ${list}`,
      root.source,
    );
  }
  if (walked.failed) throw walked.failed.error;
  return walked.instances;
}

type RuleAttr = NonNullable<RuleDef['attrs'][string]>;
/** An attribute reading a variable: the access, and the access formatted (`A[@1]`). */
type Reads = { ref: VarRef; variable: string };

/** A rule's attributes with the variable each one reads (formatted once per rule definition). */
const attrsOf = new WeakMap<RuleDef, readonly (readonly [string, RuleAttr, Reads?])[]>();

function attrList(rule: RuleDef) {
  let list = attrsOf.get(rule);
  if (!list) {
    list = Object.entries(rule.attrs).flatMap(([name, attr]) =>
      attr
        ? [
            [
              name,
              attr,
              attr.value.kind === 'var' ? { ref: attr.value.ref, variable: formatVarRef(attr.value.ref) } : undefined,
            ] as const,
          ]
        : [],
    );
    attrsOf.set(rule, list);
  }
  return list;
}

/**
 * The rule once per combination of its variables' values. `fits`: checkVarValue's answers so far
 * in this instantiation (a port's MAC and IP reach many rules).
 */
function expand(
  rule: RuleDef,
  vars: VarTable,
  path: readonly string[],
  fits: Map<string, Map<string, boolean>>,
): readonly ResolvedRule[] {
  // a rule without variables has one expansion, the same for every port (instances are values)
  if (rule.variables.length === 0) {
    let literal = literalExpansions.get(rule);
    if (!literal) {
      literal = [resolved(rule, (_name, attr) => attr as ResolvedAttr)];
      literalExpansions.set(rule, literal);
    }
    return literal;
  }
  // every variable the rule reads has one value (a port's MAC, its IP): one expansion, no combinations made
  if (rule.variables.every((a) => vars.get(a.name)?.length === 1 && (a.kind === 'iterator' || a.index === 0)))
    return [
      resolved(rule, (name, attr, reads) =>
        fitting(rule, path, fits, name, attr, reads, vars.get(reads.ref.name)![0]!),
      ),
    ];
  let bindings: VarBinding[];
  try {
    bindings = varCombinations(vars, rule.variables);
  } catch (err) {
    if (err instanceof VirtwallError)
      throw new VirtwallError(err.kind, `in filter ${path.join(' -> ')}: ${err.detail}`, { ...rule.source });
    throw err;
  }
  return bindings.map((binding) =>
    resolved(rule, (name, attr, reads) => fitting(rule, path, fits, name, attr, reads, binding.get(reads.variable)!)),
  );
}

/** Attribute `name` with `text`, the value its variable has in one combination, once the text fits the attribute (else invalid-input). */
function fitting(
  rule: RuleDef,
  path: readonly string[],
  fits: Map<string, Map<string, boolean>>,
  name: string,
  attr: RuleAttr,
  { variable }: Reads,
  text: string,
): ResolvedAttr {
  const problem = rule.protocol && checkVarValue(rule.protocol, name, text, fits);
  if (problem) {
    throw invalidInput(`in filter ${path.join(' -> ')}: variable $${variable} = '${text}' ${problem}`, {
      ...rule.source,
      attribute: name,
    });
  }
  return { value: { kind: 'text', text, variable }, negated: attr.negated };
}

/** The rule with each attribute that reads a variable resolved by `read`; literal attributes as defined. */
function resolved(rule: RuleDef, read: (name: string, attr: RuleAttr, reads: Reads) => ResolvedAttr): ResolvedRule {
  const attrs: Partial<Record<string, ResolvedAttr>> = {};
  for (const [name, attr, reads] of attrList(rule))
    attrs[name] = reads === undefined ? (attr as ResolvedAttr) : read(name, attr, reads);
  return {
    action: rule.action,
    direction: rule.direction,
    stateMatch: rule.stateMatch,
    protocol: rule.protocol,
    attrs,
  };
}

/** The one expansion of each rule without variables. */
const literalExpansions = new WeakMap<RuleDef, readonly ResolvedRule[]>();

// Reading a `<filter>` document into a FilterDef the way libvirt's virNWFilterDefParseXML does.
// Attributes are read through the protocol tables (protocols.ts); what libvirt silently ignores
// (unknown elements and attributes, a rule priority out of range, malformed parameters) is
// ignored here too.
import { ignoreDiagnostics, invalidInput, type Diagnostics } from '../../errors.js';
import { childElements, locationOf, parseXml, textContent, type XmlElement } from '../../xml/dom.js';
import { parseInt32 } from '../../util/strtol.js';
import { generateUuid, parseUuid } from '../uuid.js';
import { chainKindOf, defaultChainPriority, MAX_FILTER_PRIORITY, MIN_FILTER_PRIORITY } from './chain.js';
import { inTrialOrder, parseAs } from './datatypes.js';
import { parseFilterParams } from './params.js';
import { PORTED_IP_PROTOCOLS, PROTOCOL_TABLES, type AttrSpec, type ProtocolSpec } from './protocols.js';
import {
  RULE_ACTIONS,
  RULE_DIRECTIONS,
  type ChainKind,
  type FilterDef,
  type FilterEntry,
  type FilterRefDef,
  type ProtocolName,
  type RuleAction,
  type RuleAttr,
  type RuleDef,
  type RuleDirection,
  type VarRef,
} from './types.js';
import { VALUE_RULES } from './values.js';
import { parseVarRef, sameVarRef } from './varref.js';

export interface FilterParseOptions {
  /**
   * What an attribute value libvirt calls illegal does. `reject` (default) fails the parse, as
   * libvirt 11.3.0 does. `drop` leaves the attribute out and reports a warning instead, as
   * libvirt did before it made these errors fatal (the nwfilterxml2xmlout files of the
   * `-invalid` inputs show that older behaviour).
   */
  invalidValues?: 'reject' | 'drop';
}

/** Rule priorities lie in [-1000, 1000]; libvirt uses 500 for a missing or bad one. */
const MIN_RULE_PRIORITY = -1000;
const MAX_RULE_PRIORITY = 1000;
const DEFAULT_RULE_PRIORITY = 500;

export function parseFilter(
  text: string,
  file?: string,
  diag: Diagnostics = ignoreDiagnostics,
  options: FilterParseOptions = {},
): FilterDef {
  return parseFilterElement(parseXml(text, file), diag, options);
}

/** libvirt's virXPathString: an empty string counts as absent. */
function nonEmptyAttr(el: XmlElement, name: string): string | undefined {
  const v = el.attrs[name];
  return v === undefined || v === '' ? undefined : v;
}

export function parseFilterElement(
  el: XmlElement,
  diag: Diagnostics = ignoreDiagnostics,
  options: FilterParseOptions = {},
): FilterDef {
  if (el.name !== 'filter') throw invalidInput('unknown root element for nw filter', locationOf(el));
  const name = nonEmptyAttr(el, 'name');
  if (name === undefined) throw invalidInput('filter has no name', locationOf(el, 'name'));

  const priorityText = nonEmptyAttr(el, 'priority');
  let givenPriority: number | undefined;
  if (priorityText !== undefined) {
    givenPriority = parseInt32(priorityText);
    if (givenPriority === undefined)
      throw invalidInput(`could not parse chain priority '${priorityText}'`, locationOf(el, 'priority'));
    if (givenPriority < MIN_FILTER_PRIORITY || givenPriority > MAX_FILTER_PRIORITY) {
      throw invalidInput(
        `priority '${givenPriority}' is outside valid range of [${MIN_FILTER_PRIORITY},${MAX_FILTER_PRIORITY}]`,
        locationOf(el, 'priority'),
      );
    }
  }

  // Without a chain attribute libvirt uses root and ignores any priority given.
  const chain = nonEmptyAttr(el, 'chain') ?? 'root';
  let chainKind: ChainKind = 'root';
  let priority = 0;
  if (el.attrs.chain) {
    const r = chainKindOf(chain);
    if ('error' in r) throw invalidInput(r.error, locationOf(el, 'chain'));
    chainKind = r.kind;
    priority = givenPriority ?? defaultChainPriority(chainKind);
  }

  const uuidEl = childElements(el, 'uuid')[0];
  const uuidText = uuidEl && textContent(uuidEl);
  let uuid: string;
  if (uuidText) {
    const parsed = parseUuid(uuidText);
    if (parsed === undefined) throw invalidInput('malformed uuid element', locationOf(uuidEl));
    uuid = parsed;
  } else {
    uuid = generateUuid();
  }

  const entries: FilterEntry[] = [];
  for (const child of childElements(el)) {
    if (child.name === 'rule') entries.push(parseRule(child, diag, options));
    else if (child.name === 'filterref') entries.push(parseFilterRef(child));
  }
  return { name, uuid, uuidSpecified: Boolean(uuidText), chain, chainKind, priority, entries, source: locationOf(el) };
}

function parseFilterRef(el: XmlElement): FilterRefDef {
  const filter = el.attrs.filter;
  if (filter === undefined) throw invalidInput('filterref requires a filter attribute', locationOf(el, 'filter'));
  return { kind: 'filterref', filter, params: parseFilterParams(el), source: locationOf(el) };
}

function enumAttr<T extends string>(el: XmlElement, attr: string, values: readonly T[]): T {
  const v = el.attrs[attr];
  if (v === undefined) throw invalidInput(`rule node requires ${attr} attribute`, locationOf(el, attr));
  if (!(values as readonly string[]).includes(v))
    throw invalidInput(`unknown rule ${attr} attribute value '${v}'`, locationOf(el, attr));
  return v as T;
}

/** A rule under construction: attributes accumulate over all its protocol elements. */
interface RuleState {
  attrs: Record<string, RuleAttr>;
  variables: VarRef[];
}

function parseRule(el: XmlElement, diag: Diagnostics, options: FilterParseOptions): RuleDef {
  const action = enumAttr<RuleAction>(el, 'action', RULE_ACTIONS);
  const direction = enumAttr<RuleDirection>(el, 'direction', RULE_DIRECTIONS);
  const prio = el.attrs.priority === undefined ? undefined : parseInt32(el.attrs.priority);
  const priority =
    prio !== undefined && prio >= MIN_RULE_PRIORITY && prio <= MAX_RULE_PRIORITY ? prio : DEFAULT_RULE_PRIORITY;
  const statematch = el.attrs.statematch;
  const stateMatch = !(statematch === '0' || statematch?.toLowerCase() === 'false');

  // The first protocol element decides the protocol; later elements of the same name add to
  // it, others are ignored.
  let spec: ProtocolSpec | undefined;
  const state: RuleState = { attrs: {}, variables: [] };
  for (const child of childElements(el)) {
    const childSpec = PROTOCOL_TABLES.get(child.name as ProtocolName);
    if (childSpec === undefined || (spec !== undefined && childSpec !== spec)) continue;
    spec = childSpec;
    parseProtocolElement(child, spec, state, diag, options);
    checkPorts(child, spec, state);
  }
  if (spec) applyFixups(spec, state.attrs);
  return {
    kind: 'rule',
    action,
    direction,
    priority,
    stateMatch,
    protocol: spec?.name,
    attrs: state.attrs,
    variables: state.variables,
    source: locationOf(el),
  };
}

function parseProtocolElement(
  el: XmlElement,
  spec: ProtocolSpec,
  state: RuleState,
  diag: Diagnostics,
  options: FilterParseOptions,
): void {
  const negated = el.attrs.match === 'no';
  for (const a of spec.attrs) {
    const text = el.attrs[a.name];
    if (text === undefined) continue;
    const value = parseAttrValue(a, text, state);
    if (value !== undefined) {
      state.attrs[a.name] = { value, negated };
      continue;
    }
    const detail = `${a.name} has illegal value '${text}'`;
    if (options.invalidValues !== 'drop') throw invalidInput(detail, locationOf(el, a.name));
    diag.warn(`${detail}; attribute ignored`, locationOf(el, a.name));
    delete state.attrs[a.name];
  }
}

function parseAttrValue(a: AttrSpec, text: string, state: RuleState): RuleAttr['value'] | undefined {
  if (text.startsWith('$')) {
    const ref = parseVarRef(text.slice(1));
    if (typeof ref === 'string') return undefined;
    if (!state.variables.some((v) => sameVarRef(v, ref))) state.variables.push(ref);
    return { kind: 'var', ref };
  }
  // The first data type the text parses as is the one libvirt keeps, even if the value rule
  // then rejects it.
  for (const type of inTrialOrder(a.types)) {
    const literal = parseAs(type, text);
    if (literal === undefined) continue;
    return a.rule ? VALUE_RULES[a.rule].check(literal, type) : literal;
  }
  return undefined;
}

const PORT_ATTRS = ['srcportstart', 'dstportstart', 'srcportend', 'dstportend'];

/** virNWFilterRuleValidate: ip/ipv6 rules with ports need a protocol that has ports. */
function checkPorts(el: XmlElement, spec: ProtocolSpec, state: RuleState): void {
  if (!spec.portsNeedProtocol || !PORT_ATTRS.some((p) => state.attrs[p])) return;
  const protocol = state.attrs.protocol?.value;
  // A variable protocol counts as 0 here, as in libvirt.
  if (protocol?.kind === 'number' && PORTED_IP_PROTOCOLS.has(protocol.value)) return;
  throw invalidInput(
    `${spec.name === 'ip' ? 'IP' : 'IPv6'} rule with port specification requires protocol specification with protocol to be either one of tcp(6), udp(17), dccp(33), or sctp(132)`,
    locationOf(el),
  );
}

/** virNWFilterRuleDefFixup. */
function applyFixups(spec: ProtocolSpec, attrs: Record<string, RuleAttr>): void {
  for (const [target, source] of spec.negationFrom) {
    const t = attrs[target];
    if (t) t.negated = attrs[source]?.negated ?? false;
  }
  if (!spec.ipsetFixup) return;
  if (attrs.ipset && !attrs.ipsetflags) {
    attrs.ipsetflags = { value: { kind: 'ipset-flags', dirs: ['src'] }, negated: false };
  } else {
    delete attrs.ipset;
    delete attrs.ipsetflags;
  }
}

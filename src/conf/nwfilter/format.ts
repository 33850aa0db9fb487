// Writing a FilterDef back as XML, byte for byte as libvirt's virNWFilterDefFormat does.
import { escapeXml, XmlWriter } from '../../xml/writer.js';
import { formatLiteral } from './datatypes.js';
import { writeFilterRef } from './params.js';
import { protocolSpec, type AttrSpec } from './protocols.js';
import type { FilterDef, RuleAttr, RuleDef } from './types.js';
import { VALUE_RULES } from './values.js';
import { formatVarRef } from './varref.js';

export function formatFilter(def: FilterDef): string {
  const w = new XmlWriter();
  // libvirt prints the name and chain unescaped.
  w.raw(`<filter name='${def.name}' chain='${def.chain}'${def.priority !== 0 ? ` priority='${def.priority}'` : ''}>`);
  const body = new XmlWriter(1);
  body.text('uuid', def.uuid);
  for (const entry of def.entries) {
    if (entry.kind === 'rule') writeRule(body, entry);
    else writeFilterRef(body, entry.filter, entry.params);
  }
  return `${w.toString()}${body.toString()}</filter>\n`;
}

/** One rule's XML as formatFilter writes it (what nwfilter-explain and nwfilter-trace show of the rule that decided). */
export function formatRule(rule: RuleDef): string {
  const w = new XmlWriter();
  writeRule(w, rule);
  return w.toString();
}

function writeRule(w: XmlWriter, rule: RuleDef): void {
  const attrs: [string, string | undefined][] = [
    ['action', rule.action],
    ['direction', rule.direction],
    ['priority', String(rule.priority)],
    ['statematch', rule.stateMatch ? undefined : 'false'],
  ];
  if (rule.protocol === undefined) {
    w.empty('rule', attrs);
    return;
  }
  const protocol = rule.protocol;
  w.element('rule', attrs, (inner) => writeProtocolElements(inner, protocol, rule));
}

/**
 * The protocol element: attributes in table order, those without match='no' in one element
 * and the negated ones in a second element with match='no'.
 */
function writeProtocolElements(w: XmlWriter, protocol: NonNullable<RuleDef['protocol']>, rule: RuleDef): void {
  const plain: string[] = [];
  const negated: string[] = [];
  for (const spec of protocolSpec(protocol).attrs) {
    const attr = rule.attrs[spec.name];
    if (attr) (attr.negated ? negated : plain).push(` ${spec.name}='${formatAttrValue(spec, attr)}'`);
  }
  if (plain.length > 0 || negated.length === 0) w.raw(`<${protocol}${plain.join('')}/>`);
  if (negated.length > 0) w.raw(`<${protocol} match='no'${negated.join('')}/>`);
}

/** An attribute value as libvirt prints it: variables as written, comments escaped. */
export function formatAttrValue(spec: AttrSpec, attr: RuleAttr): string {
  const v = attr.value;
  if (v.kind === 'var') return `$${formatVarRef(v.ref)}`;
  const text = (spec.rule && VALUE_RULES[spec.rule].format?.(v)) ?? formatLiteral(v);
  return spec.types.includes('comment') ? escapeXml(text) : text;
}

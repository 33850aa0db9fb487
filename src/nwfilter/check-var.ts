// Checking a variable's value against the attribute it is used for. libvirt substitutes values
// unchecked and leaves the failure to iptables/ebtables at apply time; virtwall rejects a value
// the attribute's data types (and value rule) would not accept, before anything runs.
import { inTrialOrder, parseAs } from '../conf/nwfilter/datatypes.js';
import { attrSpec, type AttrSpec } from '../conf/nwfilter/protocols.js';
import type { ProtocolName } from '../conf/nwfilter/types.js';
import { VALUE_RULES } from '../conf/nwfilter/values.js';

/**
 * What decides whether a value fits an attribute: its data types and value rule. Attributes of
 * one kind (a MAC address, an IPv4 address, ...) share it; by attribute (a fixed table).
 */
const kinds = new Map<AttrSpec, string>();

/**
 * Why `text` does not fit `protocol`'s attribute `attr`, or undefined when it does. `fits`: the
 * answers so far, by the attribute's kind (see kinds), then text: a port's MAC and IP reach many
 * attributes of a few kinds, and parsing them again for each was half the time of instantiating
 * clean-traffic.
 */
export function checkVarValue(
  protocol: ProtocolName,
  attr: string,
  text: string,
  fits = new Map<string, Map<string, boolean>>(),
): string | undefined {
  const spec = attrSpec(protocol, attr);
  if (!spec) return undefined;
  const kind = kinds.get(spec) ?? kinds.set(spec, `${spec.types.join(',')} ${spec.rule ?? ''}`).get(spec)!;
  const known = fits.get(kind) ?? fits.set(kind, new Map()).get(kind)!;
  let ok = known.get(text);
  if (ok === undefined) {
    ok = inTrialOrder(spec.types).some((type) => {
      const literal = parseAs(type, text);
      return literal !== undefined && (!spec.rule || VALUE_RULES[spec.rule].check(literal, type) !== undefined);
    });
    known.set(text, ok);
  }
  return ok ? undefined : `is not a valid ${attr} (expected ${spec.types.join(' or ')})`;
}

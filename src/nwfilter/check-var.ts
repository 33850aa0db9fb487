// Checking a variable's value against the attribute it is used for. libvirt substitutes values
// unchecked and leaves the failure to iptables/ebtables at apply time; virtwall rejects a value
// the attribute's data types (and value rule) would not accept, before anything runs.
import { inTrialOrder, parseAs } from '../conf/nwfilter/datatypes.js';
import { attrSpec } from '../conf/nwfilter/protocols.js';
import type { ProtocolName } from '../conf/nwfilter/types.js';
import { VALUE_RULES } from '../conf/nwfilter/values.js';

/** Why `text` does not fit `protocol`'s attribute `attr`, or undefined when it does. */
export function checkVarValue(protocol: ProtocolName, attr: string, text: string): string | undefined {
  const spec = attrSpec(protocol, attr);
  if (!spec) return undefined;
  const fits = inTrialOrder(spec.types).some((type) => {
    const literal = parseAs(type, text);
    return literal !== undefined && (!spec.rule || VALUE_RULES[spec.rule].check(literal, type) !== undefined);
  });
  return fits ? undefined : `is not a valid ${attr} (expected ${spec.types.join(' or ')})`;
}

// The filter a bound port gets, given what has been learned so far: the binding's own filter
// once every address it references is known, the learning-phase policy (policy.ts) until then.
// This is the function the daemon calls on bind and from LearningManager's callback.
import { deferredPortFilter, type PortFilter } from '../nwfilter/backend.js';
import {
  bindingDigest,
  instantiateBinding,
  ipLearningMode,
  LEARNABLE_VARIABLES,
  unresolvedOf,
  type FilterBinding,
} from '../nwfilter/binding.js';
import type { FilterSource } from '../nwfilter/source.js';
import type { LearningMode } from './learner.js';
import type { LearningMechanism, LearningPort } from './manager.js';
import { learningPolicy } from './policy.js';

export interface PortPlan {
  filter: PortFilter;
  /** Set while the port is learning: the mode and which families are still unknown. */
  learning?: { mode: LearningMode; ipv4: boolean; ipv6: boolean };
}

/**
 * The port's filter for the learned addresses (pure): the learning-phase policy while the filter
 * misses only learnable variables and CTRL_IP_LEARNING allows learning them, else the filter.
 * Throws what instantiation throws, which includes CTRL_IP_LEARNING=none with $IP referenced and
 * unset (an error at bind time, as in libvirt); when every variable is set, instantiation waits
 * for the first use of `instances`, and so do its errors (a value that does not fit its attribute).
 */
export function portFilterFor(
  b: FilterBinding,
  source: FilterSource,
  learned: { ipv4: readonly string[]; ipv6: readonly string[] },
): PortPlan {
  const addresses = { ip: learned.ipv4, ipv6: learned.ipv6 };
  // The plan is a function of these inputs, whichever way it goes; by their digest the backend may reuse
  // what it built for them.
  const inputsDigest = bindingDigest(b, source, addresses);
  const missing = unresolvedOf(b, source, addresses);
  const mode = ipLearningMode(b);
  if (
    missing.length > 0 &&
    missing.every((m) => LEARNABLE_VARIABLES.includes(m)) &&
    (mode === 'any' || mode === 'dhcp')
  ) {
    const ipv6 = missing.includes('IPV6');
    return {
      filter: { ...learningPolicy({ portdev: b.portdev, mac: b.mac, mode, ipv6, params: b.params }), inputsDigest },
      learning: { mode, ipv4: missing.includes('IP'), ipv6 },
    };
  }
  // No variable missing: the plan is the filter itself, and its instantiation can wait until the
  // backend needs it. Otherwise instantiating says what is wrong.
  if (inputsDigest !== undefined && missing.length === 0) {
    return {
      filter: deferredPortFilter({ portdev: b.portdev, mac: b.mac, filter: b.filter, inputsDigest }, () =>
        instantiateBinding(b, source, {}, addresses),
      ),
    };
  }
  return {
    filter: {
      portdev: b.portdev,
      mac: b.mac,
      filter: b.filter,
      instances: instantiateBinding(b, source, {}, addresses),
      inputsDigest,
    },
  };
}

/**
 * What LearningManager.watch() needs for a port whose plan is learning: the mode and families
 * from the plan, trusted servers from DHCPSERVER/DHCPSERVERV6, and where its addresses come
 * from (`bridge` for a port on one of our networks, whose dnsmasq leases feed it).
 */
export function learningPortOf(
  b: FilterBinding,
  learning: NonNullable<PortPlan['learning']>,
  bridge?: string,
): LearningPort {
  const mechanism: LearningMechanism = bridge === undefined ? 'traffic' : 'dnsmasq-leases';
  return {
    port: b.portdev,
    mac: b.mac.toLowerCase(),
    mode: learning.mode,
    dhcpServers: b.params.get('DHCPSERVER') ?? [],
    dhcpServersV6: b.params.get('DHCPSERVERV6') ?? [],
    mechanism,
    ...(bridge === undefined ? {} : { bridge }),
    needs: { ipv4: learning.ipv4, ipv6: learning.ipv6 },
  };
}

// Showing what was learned on a port, for `nwfilter-binding-dumpxml`, `net-port-dumpxml` and
// their `--json` (pure). libvirt has no XML for this, so the element lives in virtwall's own
// namespace and is meant to be written inside the binding/port document, where libvirt-only
// readers ignore it: <vw:ip-learning> with one <address> per learned address.
import { XmlWriter } from '../xml/writer.js';
import type { LearnedAddress, LearnerState } from './learner.js';
import type { LearningPort } from './manager.js';

export const VIRTWALL_XML_NS = 'https://virtwall.dev/xmlns/ip-learning/1';

export interface LearnedAddressJson {
  family: 'ipv4' | 'ipv6';
  address: string;
  /** How it was learned: arp, ip-traffic, ipv6-traffic, dhcp-snoop, dhcpv6-snoop, dnsmasq-lease. */
  source: string;
  learned: string;
  /** ISO time; absent = no expiry. */
  expires?: string;
  server?: string;
}

export interface LearningJson {
  mode: string;
  mechanism: string;
  /** True while some referenced address family is still unknown (the learning policy is on). */
  learning: boolean;
  addresses: LearnedAddressJson[];
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

function addressJson(family: 'ipv4' | 'ipv6', a: LearnedAddress): LearnedAddressJson {
  return {
    family,
    address: a.address,
    source: a.source,
    learned: iso(a.learnedAt),
    ...(a.expires === undefined ? {} : { expires: iso(a.expires) }),
    ...(a.server ? { server: a.server } : {}),
  };
}

export function learningJson(config: LearningPort, state: LearnerState): LearningJson {
  const waiting = (config.needs.ipv4 && state.ipv4.length === 0) || (config.needs.ipv6 && state.ipv6.length === 0);
  return {
    mode: config.mode,
    mechanism: config.mechanism,
    learning: waiting,
    addresses: [...state.ipv4.map((a) => addressJson('ipv4', a)), ...state.ipv6.map((a) => addressJson('ipv6', a))],
  };
}

/** The <vw:ip-learning> element at `depth` (2-space indentation, libvirt's quoting). */
export function learningXml(config: LearningPort, state: LearnerState, depth = 1): string {
  const j = learningJson(config, state);
  return new XmlWriter(depth)
    .element(
      'vw:ip-learning',
      [
        ['xmlns:vw', VIRTWALL_XML_NS],
        ['mode', j.mode],
        ['mechanism', j.mechanism],
        ['state', j.learning ? 'learning' : 'learned'],
      ],
      (w) => {
        for (const a of j.addresses) {
          w.empty('vw:address', [
            ['family', a.family],
            ['address', a.address],
            ['source', a.source],
            ['server', a.server],
            ['learned', a.learned],
            ['expires', a.expires],
          ]);
        }
      },
    )
    .toString();
}

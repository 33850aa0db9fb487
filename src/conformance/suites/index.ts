// The suites virtwall knows, named after libvirt's test programs (without `test`).
import type { Suite } from '../suite.js';
import { notImplemented } from '../suite.js';
import { nwfilterxml2firewall } from './nwfilterxml2firewall.js';

export function allSuites(): Suite[] {
  return [
    notImplemented('nwfilterxml2xml', 'nwfilterxml2xmlin'),
    nwfilterxml2firewall,
    notImplemented('virnwfilterbindingxml2xml', 'virnwfilterbindingxml2xmldata'),
    notImplemented('networkxml2xml', 'networkxml2xmlin'),
    notImplemented('networkxml2xmlupdate', 'networkxml2xmlupdatein'),
    notImplemented('networkxml2firewall', 'networkxml2firewalldata'),
    notImplemented('networkxml2conf', 'networkxml2confdata'),
    notImplemented('virnetworkportxml2xml', 'virnetworkportxml2xmldata'),
  ];
}

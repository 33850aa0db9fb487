// The suites virtwall knows, named after libvirt's test programs (without `test`).
import type { Suite } from '../suite.js';
import { networkxml2conf } from './networkxml2conf.js';
import { networkxml2firewall } from './networkxml2firewall.js';
import { networkxml2xml } from './networkxml2xml.js';
import { networkxml2xmlupdate } from './networkxml2xmlupdate.js';
import { nwfilterxml2firewall } from './nwfilterxml2firewall.js';
import { nwfilterxml2xml } from './nwfilterxml2xml.js';
import { virnetworkportxml2xml } from './virnetworkportxml2xml.js';
import { virnwfilterbindingxml2xml } from './virnwfilterbindingxml2xml.js';

export function allSuites(): Suite[] {
  return [
    nwfilterxml2xml,
    nwfilterxml2firewall,
    virnwfilterbindingxml2xml,
    networkxml2xml,
    networkxml2xmlupdate,
    networkxml2firewall,
    networkxml2conf,
    virnetworkportxml2xml,
  ];
}

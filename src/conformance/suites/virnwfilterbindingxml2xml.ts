// libvirt's virnwfilterbindingxml2xmltest: each filter binding document parses and formats back
// to itself.
import { formatFilterBinding, parseFilterBinding } from '../../conf/nwfilterbinding/binding.js';
import { roundTripSuite } from '../roundtrip.js';

export const virnwfilterbindingxml2xml = roundTripSuite({
  name: 'virnwfilterbindingxml2xml',
  inDir: 'virnwfilterbindingxml2xmldata',
  parse: parseFilterBinding,
  format: formatFilterBinding,
});

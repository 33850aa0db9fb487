// libvirt's virnwfilterbindingxml2xmltest: each filter binding document parses and formats back
// to itself.
import { formatFilterBinding, parseFilterBinding } from '../../conf/nwfilterbinding/binding.js';
import { roundTripSuite } from '../roundtrip.js';

export const virnwfilterbindingxml2xml = roundTripSuite('virnwfilterbindingxml2xml', 'virnwfilterbindingxml2xmldata', parseFilterBinding, formatFilterBinding);

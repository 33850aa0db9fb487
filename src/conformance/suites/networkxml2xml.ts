// libvirt's networkxml2xmltest: networkxml2xmlin/NAME.xml parses and formats to
// networkxml2xmlout/NAME.xml; an input without an output file must fail to parse.
//
// The harness formats three cases with VIR_NETWORK_XML_INACTIVE. That flag only hides live state
// (connection counts, which parsing never sets, and the <interface> list of a <pf> network,
// which parsing never fills alongside a <pf>), so on a freshly parsed definition both forms are
// identical and every case is formatted live without naming any.
import { formatNetwork } from '../../conf/network/format.js';
import { parseNetwork } from '../../conf/network/parse.js';
import { roundTripSuite } from '../roundtrip.js';

export const networkxml2xml = roundTripSuite({
  name: 'networkxml2xml',
  inDir: 'networkxml2xmlin',
  outDir: 'networkxml2xmlout',
  parse: parseNetwork,
  format: (def) => formatNetwork(def),
});

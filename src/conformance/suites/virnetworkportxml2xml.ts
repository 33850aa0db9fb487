// libvirt's virnetworkportxml2xmltest: each <networkport> document formats back to itself.
import { formatNetworkPort } from '../../conf/networkport/format.js';
import { parseNetworkPort } from '../../conf/networkport/parse.js';
import { roundTripSuite } from '../roundtrip.js';

export const virnetworkportxml2xml = roundTripSuite({
  name: 'virnetworkportxml2xml',
  inDir: 'virnetworkportxml2xmldata',
  parse: parseNetworkPort,
  format: formatNetworkPort,
});

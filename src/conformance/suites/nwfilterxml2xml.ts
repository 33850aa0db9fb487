// libvirt's nwfilterxml2xmltest: each filter of nwfilterxml2xmlin is parsed and formatted, and
// the result compared with the file of the same name in nwfilterxml2xmlout. A case whose output
// file is absent is one libvirt expects to fail parsing (its `-invalid` inputs hold illegal
// attribute values). libvirt never compares those with nwfilterxml2xmlout/X.xml; those files
// record older libvirt, which dropped the values instead (see FilterParseOptions.invalidValues).
import { formatFilter } from '../../conf/nwfilter/format.js';
import { parseFilter } from '../../conf/nwfilter/parse.js';
import { roundTripSuite } from '../roundtrip.js';

export const nwfilterxml2xml = roundTripSuite({
  name: 'nwfilterxml2xml',
  inDir: 'nwfilterxml2xmlin',
  outDir: 'nwfilterxml2xmlout',
  parse: parseFilter,
  format: formatFilter,
});

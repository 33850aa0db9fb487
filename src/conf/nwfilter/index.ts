// nwfilter `<filter>` documents: typed definitions, parser, formatter and protocol tables.
export * from './types.js';
export { parseFilter, parseFilterElement, type FilterParseOptions } from './parse.js';
export { formatFilter, formatAttrValue } from './format.js';
export {
  PROTOCOL_TABLES,
  protocolSpec,
  attrSpec,
  type AttrSpec,
  type ProtocolSpec,
  type ProtocolLayer,
} from './protocols.js';
export { ETHERTYPE_NAMES, ARP_OPCODE_NAMES, IP_PROTOCOL_NAMES } from './values.js';
export { formatLiteral } from './datatypes.js';
export { formatVarRef, parseVarRef } from './varref.js';
export { loadStockFilters, stockFilterDir } from './stock.js';

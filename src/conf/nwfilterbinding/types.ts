// Typed definition of a `<filterbinding>` document (virNWFilterBindingDef): which filter, with
// which parameters, is bound to which guest port.
import type { SourceLocation } from '../../errors.js';
import type { FilterParams } from '../nwfilter/types.js';

export interface FilterBindingDef {
  /** The guest that owns the port. */
  owner: { name: string; uuid: string };
  /** Host-side device of the port (tap), e.g. `vnet0`. */
  portdev: string;
  /** Physical device for macvtap/direct ports, when there is one. */
  linkdev?: string;
  /** Guest MAC address, canonical `52:54:00:7b:35:93`. */
  mac: string;
  filter: string;
  params: FilterParams;
  source?: SourceLocation;
  /** Where its `<filterref>` was read: errors instantiating the filter point there. */
  refSource?: SourceLocation;
}

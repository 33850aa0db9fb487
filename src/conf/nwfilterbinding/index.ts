// nwfilter `<filterbinding>` documents.
export type { FilterBindingDef } from './types.js';
export { parseFilterBinding, parseFilterBindingElement, formatFilterBinding } from './binding.js';

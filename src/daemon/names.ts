// Names that end up in file names or commands are checked here, before anything is stored or
// run: no input can add a path component or a shell word (device names: util/device-name.ts).
import { invalidInput, type SourceLocation } from '../errors.js';
import { printable } from '../util/printable.js';

/** firewalld zone names (libvirt's schema: zoneName): sent to firewalld and written to logs. */
const ZONE_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** Object names (networks, filters): used as file names; libvirt refuses '/' and leading '.'. */
const OBJECT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,99}$/;

export function checkObjectName(name: string, what: string, loc: SourceLocation = {}): string {
  if (!OBJECT_NAME.test(name)) throw invalidInput(`invalid ${what} name '${printable(name)}'`, loc);
  return name;
}

export function checkZoneName(name: string, loc: SourceLocation = {}): string {
  if (!ZONE_NAME.test(name))
    throw invalidInput(`invalid firewalld zone '${printable(name)}': at most 64 letters, digits, _ and -`, loc);
  return name;
}

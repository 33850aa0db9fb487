// NETWORK_UPDATE's numbers (virNetworkUpdateCommand, virNetworkUpdateSection) -> virtwall's names.
import { UPDATE_SECTIONS, type UpdateCommand, type UpdateSection } from '../conf/network/update.js';

export const UPDATE_COMMANDS_BY_NUMBER: Readonly<Record<number, UpdateCommand>> = {
  1: 'modify',
  2: 'delete',
  3: 'add-last',
  4: 'add-first',
};

/** Sections are numbered from 1 (BRIDGE) in the order virtwall lists them; 0 is NONE. */
export const UPDATE_SECTIONS_BY_NUMBER: Readonly<Record<number, UpdateSection>> = Object.fromEntries(
  UPDATE_SECTIONS.map((s, i) => [i + 1, s]),
);

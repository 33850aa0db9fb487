// libvirt's layout for many ports without a second per command: one template port is bound
// through the real ebiptables backend, its ebtables state (ebtables-save) is copied for the other
// ports with port name, MAC and IP substituted, and loaded in one ebtables-restore. Binding 1000
// ports one command at a time would take about 20 minutes, and the data path only needs the
// kernel to hold the same layout.
import { guestIp, guestMac, portName, type BenchNet } from './net.js';

const escapeDots = (s: string) => s.replace(/[.]/g, '\\.');
/** Matches `text` where it is not followed by a further digit (vnet2 but not vnet20). */
const exact = (text: string) => new RegExp(`${escapeDots(text)}(?![0-9])`, 'g');

/**
 * Copies port `template`'s ebtables chains and rules to ports `others`. The template must be
 * bound already and nothing else in the nat table may mention it.
 */
export function replicateEbtablesPort(net: BenchNet, template: number, others: readonly number[]): void {
  const saved = net.lab.exec(net.host, ['ebtables-save']).stdout.split('\n');
  const marks = [portName(template), guestMac(template), guestIp(template)].map(exact);
  const mine = saved.filter((line) => /^[:-]/.test(line) && line.search(marks[0]!) >= 0);
  const copy = (k: number) => {
    const values = [portName(k), guestMac(k), guestIp(k)];
    return mine.map((line) => marks.reduce((l, re, i) => l.replace(re, values[i]!), line));
  };
  const lines = others.map(copy);
  // Chain declarations first, then the rules that jump to them.
  const script = [
    '*nat',
    ...lines.flat().filter((l) => l.startsWith(':')),
    ...lines.flat().filter((l) => l.startsWith('-')),
    '',
  ].join('\n');
  net.lab.exec(net.host, ['ebtables-restore', '--noflush'], true, script);
}

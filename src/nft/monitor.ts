// Telling our own ruleset changes from everyone else's in `nft monitor` output. The kernel ends
// every committed transaction with a new-generation event naming the process that committed it,
// which nft prints as `# new generation N by process PID (NAME)`; a transaction committed by a
// process our runner started (nft, iptables-nft, ebtables-nft) is ours and needs no heal.
import { isOwnProcess } from '../exec/runner.js';

const GENERATION = ['#', 'new', 'generation'];

/** The committing process of a new-generation line, if the line is one. */
function committer(line: string): number | undefined {
  const words = line
    .trim()
    .split(' ')
    .filter((w) => w !== '');
  if (!GENERATION.every((w, i) => words[i] === w) || words[4] !== 'by' || words[5] !== 'process') return undefined;
  const pid = Number(words[6]);
  return Number.isInteger(pid) ? pid : undefined;
}

/**
 * A reader of `nft monitor` output (chunks as they come) that calls `onForeign` once for every
 * transaction with events committed by a process other than ours.
 */
export function foreignTransactions(onForeign: () => void): (chunk: string) => void {
  let partial = '';
  let events = false;
  return (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.trim() === '') continue;
      const pid = committer(line);
      if (pid === undefined) events = true;
      else {
        if (events && !isOwnProcess(pid)) onForeign();
        events = false;
      }
    }
  };
}

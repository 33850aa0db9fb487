// `virtwall nwfilter-trace [PORTDEV...]`: the daemon's live trace of packets on bound ports (all
// when none is named), one line per decision: time, port, direction, packet, verdict, and the
// filter and rule that decided. Runs until Ctrl-C or --count lines; the daemon removes its
// tracing when the connection ends, however this process ends.
import { Option, type Command } from 'commander';
import { invalidInput } from '../../errors.js';
import { checkDeviceName } from '../../util/device-name.js';
import { DaemonClient } from '../client.js';
import type { TraceLine } from '../../observe/trace/tracer.js';

interface Opts {
  verdict?: 'accept' | 'drop';
  count?: string;
  json?: boolean;
}

/** `HH:MM:SS.mmm PORT DIRECTION VERDICT PACKET | FILTER prio=N RULE...` */
export function traceText(l: TraceLine): string {
  const by = l.filter !== undefined ? [`${l.filter} prio=${l.priority}`, ...(l.rules ?? [])].join(' ') : l.by;
  return `${l.time.slice(11, 23)} ${l.port} ${l.direction} ${l.verdict} ${l.packet} | ${by}`;
}

export function registerNwfilterTrace(program: Command): void {
  program
    .command('nwfilter-trace')
    .description('live trace of packets on bound ports and the filter rule that decided (nftables backend)')
    .argument('[binding...]', 'bound port devices to trace (default: every bound port)')
    .addOption(new Option('--verdict <verdict>', 'only packets with this verdict').choices(['drop', 'accept']))
    .option('--count <N>', 'stop after N lines')
    .option('--json', 'one JSON object per line')
    .action(async (ports: string[], opts: Opts, cmd: Command) => {
      for (const p of ports) checkDeviceName(p, 'port device');
      const count = opts.count === undefined ? undefined : Number(opts.count);
      if (count !== undefined && !(Number.isSafeInteger(count) && count > 0))
        throw invalidInput(`invalid --count '${opts.count}': a positive integer`);
      const client = DaemonClient.of(cmd);
      await client.stream(
        'POST',
        '/trace',
        { ports, verdict: opts.verdict, count },
        (o) => {
          if ('tracing' in o) {
            process.stderr.write(`Tracing ${(o['tracing'] as string[]).join(', ')} (Ctrl-C to stop)\n`);
            return;
          }
          const line = o as unknown as TraceLine;
          process.stdout.write(`${opts.json ? JSON.stringify(line) : traceText(line)}\n`);
        },
        (stop) => {
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        },
      );
    });
}

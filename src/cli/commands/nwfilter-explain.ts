// `virtwall nwfilter-explain PORTDEV --direction in|out PACKET [--json]`: the daemon evaluates
// the packet (a microflow, or frames from --frame/--pcap) against the rules it holds for the
// port and answers each step; nothing is sent. Not a virsh command: invalid input exits 2.
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { invalidInput } from '../../errors.js';
import { DaemonClient, seg } from '../client.js';

/** Hex per request, well under the API's 1 MiB body limit: a long capture goes in several requests. */
const HEX_PER_REQUEST = 256 * 1024;

interface Opts {
  direction: 'in' | 'out';
  host?: boolean;
  frame?: string;
  pcap?: string;
  json?: boolean;
}

export function registerNwfilterExplain(program: Command): void {
  program
    .command('nwfilter-explain')
    .description(
      "explain, step by step, what the rules the daemon holds for a port do to a packet, offline (virtwall's own): hooks, chains, rules with their XML and variables, the verdict",
    )
    .argument('<portdev>', 'the bound port (network filter binding port dev)')
    .argument(
      '[packet]',
      'a microflow: eth.src=MAC,eth.dst=MAC[,vlan.id=N][,ip4.src=A,ip4.dst=A | ip6.* | arp.* | rarp.*][,tcp.dst=N | udp.* | icmp.* | icmp6.*][,ct.state=new|established|related|invalid]; with --frame/--pcap only ct.* (see README)',
    )
    .addOption(
      new Option('--direction <dir>', "libvirt's direction: out = sent by the guest, in = sent to the guest")
        .choices(['in', 'out'])
        .makeOptionMandatory(),
    )
    .option('--host', 'the other end is the host (the bridge itself), not another port of the bridge')
    .option('--frame <hex>', 'the packet as an Ethernet frame in hex')
    .option('--pcap <file>', 'the packets of a pcap file (Ethernet)')
    .option('--json', 'print the report as JSON')
    .action(async (portdev: string, packet: string | undefined, opts: Opts, cmd: Command) => {
      const [{ PcapStreamReader }, { inputsOf, renderExplanation }, { MAX_FRAMES }] = await Promise.all([
        import('../../learning/pcap-stream.js'),
        import('../../explain/explain.js'),
        import('../../explain/packet.js'),
      ]);
      type Report = import('../../explain/explain.js').ExplainReport;
      if (opts.frame !== undefined && opts.pcap !== undefined)
        throw invalidInput('--frame and --pcap exclude each other');
      let frames: string[] | undefined;
      if (opts.frame !== undefined) frames = [opts.frame];
      if (opts.pcap !== undefined) {
        const read = new PcapStreamReader().push(readFileSync(opts.pcap));
        if ('error' in read) throw invalidInput(`--pcap ${opts.pcap}: ${read.error}`);
        if (read.frames.length === 0) throw invalidInput(`--pcap ${opts.pcap}: no frames`);
        frames = read.frames.map((f) => f.toString('hex'));
      }
      // bad input exits 2 here, without a daemon
      inputsOf({ direction: opts.direction, peer: 'port', packet, frames });
      const client = DaemonClient.of(cmd);
      const ask = (body: Record<string, unknown>) =>
        client.call<Report>('POST', `/bindings/${seg(portdev)}/explain`, {
          direction: opts.direction,
          peer: opts.host ? 'host' : 'port',
          ...(packet !== undefined ? { packet } : {}),
          ...body,
        });
      let report: Report;
      if (frames === undefined) report = await ask({});
      else {
        // in batches; the frames are numbered across them
        const reports: Report[] = [];
        for (let i = 0; i < frames.length; ) {
          const batch: string[] = [];
          let size = 0;
          while (
            i < frames.length &&
            batch.length < MAX_FRAMES &&
            (batch.length === 0 || size + frames[i]!.length <= HEX_PER_REQUEST)
          ) {
            size += frames[i]!.length;
            batch.push(frames[i++]!);
          }
          const done = reports.reduce((n, r) => n + r.packets.length, 0);
          const r = await ask({ frames: batch });
          reports.push({ ...r, packets: r.packets.map((p, k) => ({ ...p, packet: `frame ${done + k + 1}` })) });
        }
        report = { ...reports[0]!, packets: reports.flatMap((r) => r.packets) };
      }
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderExplanation(report));
    });
}

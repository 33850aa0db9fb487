// The 'traffic' mechanism: tcpdump on the port device, one process per direction (like
// libvirt's two pcap handles), writing pcap to a pipe that pcap-stream.ts splits into frames.
// Capture on the port sees what the guest sends before any bridge filter drops it, which
// `any` mode needs (the first packets of a guest may be ones the learning policy drops).
import type { ChildProcess } from 'node:child_process';
import { spawnTethered } from '../exec/tethered.js';
import type { LearningPort, PortObserver } from './manager.js';
import { PcapStreamReader } from './pcap-stream.js';

/** Frames up to here hold every header and DHCP field we read (libvirt's PCAP_PBUFSIZE). */
const SNAPLEN = 576;

/** BPF filter per mode: `dhcp` only needs DHCP/DHCPv6; `any` needs what the guest sends. */
export function captureFilter(port: LearningPort, fromGuest: boolean): string {
  const dhcp = 'udp port 67 or udp port 68 or udp port 546 or udp port 547';
  if (port.mode === 'dhcp') return `${dhcp} or (vlan and (${dhcp}))`;
  return fromGuest
    ? `ether src ${port.mac} and (arp or ip or ip6 or vlan)`
    : `udp port 67 or udp port 68 or udp port 546 or udp port 547`;
}

export function tcpdumpArgv(port: LearningPort, fromGuest: boolean): string[] {
  return [
    'tcpdump',
    '-i',
    port.port,
    '-Q',
    fromGuest ? 'in' : 'out',
    '-p',
    '-n',
    '-U',
    '-s',
    String(SNAPLEN),
    '-w',
    '-',
    captureFilter(port, fromGuest),
  ];
}

export interface CaptureOptions {
  /** Turns an argv into the one to run (e.g. prefixing `ip netns exec NS`). */
  wrap?: (argv: string[]) => string[];
  /** Told when a capture process ends on its own (port gone, tcpdump missing). */
  onError?: (port: string, message: string) => void;
}

/** Starts capturing for `port`; plug into LearningManagerOptions.observe. */
export function observeTraffic(
  port: LearningPort,
  deliver: (frame: Uint8Array, fromGuest: boolean) => void,
  opts: CaptureOptions = {},
): PortObserver {
  const children: ChildProcess[] = [];
  let stopped = false;
  let listening = 0;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  for (const fromGuest of [true, false]) {
    const argv = (opts.wrap ?? ((a) => a))(tcpdumpArgv(port, fromGuest));
    const child = spawnTethered(argv, ['ignore', 'pipe', 'pipe']);
    const reader = new PcapStreamReader();
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      const read = reader.push(chunk);
      if ('error' in read) {
        opts.onError?.(port.port, read.error);
        child.kill();
        return;
      }
      for (const frame of read.frames) deliver(frame, fromGuest);
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (!stderr.includes('listening on') && d.includes('listening on') && ++listening === 2) markReady();
      stderr = (stderr + d).slice(-2000);
    });
    child.on('error', (err) => opts.onError?.(port.port, String(err)));
    child.on('exit', (code) => {
      if (!stopped) opts.onError?.(port.port, `tcpdump exited (${code}): ${stderr.trim()}`);
    });
    children.push(child);
  }
  return {
    ready,
    stop() {
      stopped = true;
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill();
    },
  };
}

// libvirt's keepalive program (src/rpc/virkeepaliveprotocol.x, virkeepalive.c): PING and PONG
// MESSAGEs without payload. A PING is answered at once, whatever the client asked before. Once
// the client asked for keepalive (CONNECT_SUPPORTS_FEATURE 10), the server pings after
// `interval` seconds without traffic and drops the client when `count` pings in a row went
// unanswered (libvirt's keepalive_interval = 5, keepalive_count = 5).
import { encodeFrame, PROGRAM, PROTOCOL_VERSION, STATUS, TYPE, type Header } from './framing.js';

export const KEEPALIVE_PROC = { ping: 1, pong: 2 } as const;

export interface KeepaliveSettings {
  /** Seconds without traffic before a PING. */
  interval: number;
  /** Unanswered PINGs before the connection is dropped. */
  count: number;
}

export const DEFAULT_KEEPALIVE: KeepaliveSettings = { interval: 5, count: 5 };

const frame = (proc: number) =>
  encodeFrame({
    prog: PROGRAM.keepalive,
    vers: PROTOCOL_VERSION,
    proc,
    type: TYPE.message,
    serial: 0,
    status: STATUS.ok,
  });
export const PING = frame(KEEPALIVE_PROC.ping);
export const PONG = frame(KEEPALIVE_PROC.pong);

export class Keepalive {
  private timer: NodeJS.Timeout | undefined;
  private unanswered = 0;
  private lastReceived = Date.now();

  constructor(
    private readonly settings: KeepaliveSettings,
    private readonly send: (frame: Buffer) => void,
    private readonly dead: () => void,
  ) {}

  /** The client asked for keepalive. */
  start(): void {
    if (this.timer || this.settings.interval <= 0) return;
    this.timer = setInterval(() => this.tick(), this.settings.interval * 1000);
    this.timer.unref();
  }

  /** Anything received shows the client is alive; a PING gets its PONG. */
  received(header: Header | undefined): void {
    this.unanswered = 0;
    this.lastReceived = Date.now();
    if (header?.prog === PROGRAM.keepalive && header.proc === KEEPALIVE_PROC.ping) this.send(PONG);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (Date.now() - this.lastReceived < this.settings.interval * 1000) return;
    if (this.unanswered >= this.settings.count) {
      this.stop();
      this.dead();
      return;
    }
    this.unanswered++;
    this.send(PING);
  }
}

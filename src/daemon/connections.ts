// How many clients the API serves at once and for how long they may wait doing nothing: each
// open connection costs a file descriptor, and 20,000 idle ones left none for the CLI. At most
// `max_clients` connections are kept over all listeners; a new one takes the place of the one idle
// longest (no request in progress), so a flood of idle connections cannot lock the operator out.
// When every connection is busy the Unix socket (root only: the admin's) still gets one slot more.
// A connection without a request in progress for `idle_timeout` seconds is closed.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

interface Connection {
  socket: Socket;
  /** Requests in progress on it. */
  busy: number;
  timer?: NodeJS.Timeout;
}

export class ConnectionGuard {
  /** Insertion order = idle order: a connection that becomes idle moves to the end. */
  private readonly open = new Map<Socket, Connection>();
  private refused = 0;

  constructor(
    private readonly maxClients: number,
    private readonly idleMs: number,
    private readonly log: Logger,
  ) {}

  /** Guards the connections of `server`; `event` is where it hands over a connection ready for HTTP. */
  watch(server: Server, opts: { admin: boolean; event: 'connection' | 'secureConnection' }): void {
    server.on(opts.event, (socket: Socket) => this.admit(socket, opts.admin));
    server.on('request', (req, res) => {
      const c = this.open.get(req.socket);
      if (!c) return;
      c.busy++;
      clearTimeout(c.timer);
      res.on('close', () => {
        if (--c.busy > 0 || c.socket.destroyed) return;
        this.open.delete(c.socket);
        this.open.set(c.socket, c);
        this.startIdle(c);
      });
    });
  }

  get size(): number {
    return this.open.size;
  }

  private admit(socket: Socket, admin: boolean): void {
    if (this.open.size >= this.maxClients) {
      const idle = [...this.open.values()].find((c) => c.busy === 0);
      if (idle) this.close(idle);
      else if (!admin || this.open.size > this.maxClients) {
        this.refuse(socket);
        return;
      }
    }
    const c: Connection = { socket, busy: 0 };
    this.open.set(socket, c);
    socket.once('close', () => this.close(c));
    this.startIdle(c);
  }

  private close(c: Connection): void {
    clearTimeout(c.timer);
    if (this.open.get(c.socket) === c) this.open.delete(c.socket);
    c.socket.destroy();
  }

  private startIdle(c: Connection): void {
    clearTimeout(c.timer);
    c.timer = setTimeout(() => this.close(c), this.idleMs);
    c.timer.unref();
  }

  private refuse(socket: Socket): void {
    socket.destroy();
    // one line per burst, not per connection
    if (this.refused++ === 0) {
      setTimeout(() => {
        this.log.warn({ refused: this.refused, maxClients: this.maxClients }, 'connections refused: every slot busy');
        this.refused = 0;
      }, 1000).unref();
    }
  }
}

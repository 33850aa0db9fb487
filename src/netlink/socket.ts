// A netlink socket of this process, through libc (koffi): Node has no AF_NETLINK socket. Every
// request is synchronous: rtnetlink handles a request inside send(), so its answer is queued
// before recv() is called, and a dump's next batch is produced inside recv(); a receive timeout
// turns a kernel that does not answer into an error instead of a hung daemon. A socket opened
// for a named network namespace is created inside it (setns on this thread and back), and keeps
// acting there.
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { HEADER_SIZE, NLM_F, NLMSG, parseError, parseMessages, readU16, Struct, type Message } from './message.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_PROTOCOL = 38;
const SO_DOMAIN = 39;
const SO_NETNS_COOKIE = 71;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const NETLINK_ADD_MEMBERSHIP = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const POLLIN = 1;
const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;
const EAGAIN = 11;
const ENOBUFS = 105;
const CLONE_NEWNET = 0x40000000;
const EINTR = 4;
/** A dump batch is at most 32 KiB (netlink_recvmsg caps its allocation there). */
const RECEIVE_BUFFER = 64 * 1024;
const RECEIVE_TIMEOUT_S = 10;

export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;

type Koffi = typeof import('koffi');
type KoffiFunction = ReturnType<ReturnType<Koffi['load']>['func']>;

interface Libc {
  socket: KoffiFunction;
  setsockopt: KoffiFunction;
  send: KoffiFunction;
  recv: KoffiFunction;
  close: KoffiFunction;
  setns: KoffiFunction;
  strerror: KoffiFunction;
  getsockopt: KoffiFunction;
  getsockopt64: KoffiFunction;
  fcntl: KoffiFunction;
  bind: KoffiFunction;
  poll: KoffiFunction;
  eventfd: KoffiFunction;
  write: KoffiFunction;
}

// loaded on first use: the CLI, which imports the network driver for `doctor`, never pays for it
let koffi: Koffi;
let libc: Libc | undefined;
function sys(): Libc {
  if (libc) return libc;
  koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const so = koffi.load('libc.so.6');
  koffi.struct('pollfd', { fd: 'int', events: 'short', revents: 'short' });
  libc = {
    socket: so.func('int socket(int domain, int type, int protocol)'),
    setsockopt: so.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
    send: so.func('long send(int fd, const void *buf, size_t len, int flags)'),
    recv: so.func('long recv(int fd, _Out_ void *buf, size_t len, int flags)'),
    close: so.func('int close(int fd)'),
    setns: so.func('int setns(int fd, int nstype)'),
    strerror: so.func('const char *strerror(int errnum)'),
    getsockopt: so.func('int getsockopt(int fd, int level, int name, _Out_ int *value, _Inout_ uint32_t *len)'),
    getsockopt64: so.func('int getsockopt(int fd, int level, int name, _Out_ uint64_t *value, _Inout_ uint32_t *len)'),
    fcntl: so.func('int fcntl(int fd, int cmd, ...)'),
    bind: so.func('int bind(int fd, const void *addr, uint32_t len)'),
    poll: so.func('int poll(_Inout_ pollfd *fds, unsigned long nfds, int timeout)'),
    eventfd: so.func('int eventfd(unsigned int initval, int flags)'),
    write: so.func('long write(int fd, const void *buf, size_t len)'),
  };
  return libc;
}

/** A failed netlink request: the kernel's errno, its text, and the kernel's own explanation if it gave one. */
export class NetlinkError extends Error {
  constructor(
    readonly errno: number,
    readonly detail?: string,
  ) {
    super(`${String(sys().strerror(errno))}${detail ? ` (${detail})` : ''}`);
  }
}

/**
 * send(2) and recv(2) on a netlink socket this module did not open (libnftables' context's, see
 * src/nft/ownership.ts): the byte count, or minus the errno.
 */
export function sendOn(fd: number, data: Buffer, flags = 0): number {
  const n = Number(sys().send(fd, data, data.length, flags));
  return n < 0 ? -koffi.errno() : n;
}

export function receiveOn(fd: number, buf: Buffer, flags = 0): number {
  const n = Number(sys().recv(fd, buf, buf.length, flags));
  return n < 0 ? -koffi.errno() : n;
}

/** Whether `fd` is a netlink socket of `protocol` (asked of the socket: SO_DOMAIN, SO_PROTOCOL). */
export function isNetlinkSocket(fd: number, protocol: number): boolean {
  const option = (name: number) => {
    const value = [0];
    return sys().getsockopt(fd, SOL_SOCKET, name, value, [4]) === 0 ? value[0] : undefined;
  };
  return option(SO_DOMAIN) === AF_NETLINK && option(SO_PROTOCOL) === protocol;
}

/**
 * The cookie of the network namespace socket `fd` acts in (SO_NETNS_COOKIE, Linux 5.14): a number
 * the kernel gives no other namespace until it reboots, unlike the namespace's inode number.
 */
export function netnsCookie(fd: number): bigint {
  const value = [0n];
  check(sys().getsockopt64(fd, SOL_SOCKET, SO_NETNS_COOKIE, value, [8]), 'SO_NETNS_COOKIE');
  return BigInt(value[0]!);
}

/** Sets close-on-exec on a socket someone else opened (libmnl opens libnftables' without it). */
export function setCloseOnExec(fd: number): void {
  check(sys().fcntl(fd, F_SETFD, 'int', FD_CLOEXEC), 'close-on-exec');
}

function check(r: number | bigint, what: string): number {
  const n = Number(r);
  if (n < 0) throw new Error(`${what}: ${String(sys().strerror(koffi.errno()))}`);
  return n;
}

const NETNS_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Runs `fn` (synchronously: nothing else of this process runs meanwhile) with this thread in
 * network namespace `netns` (`ip netns` name), or where it is when none is given. What `fn`
 * opens (sockets, /proc/sys/net files) belongs to that namespace and stays there.
 */
export function inNetns<T>(netns: string | undefined, fn: () => T): T {
  if (netns === undefined) return fn();
  if (!NETNS_NAME.test(netns)) throw new Error(`invalid network namespace name '${netns}'`);
  const own = openSync('/proc/thread-self/ns/net', 'r');
  try {
    const target = openSync(`/run/netns/${netns}`, 'r');
    try {
      check(sys().setns(target, CLONE_NEWNET), `entering network namespace ${netns}`);
    } finally {
      closeSync(target);
    }
    try {
      return fn();
    } finally {
      // a thread left in the wrong namespace would act there from then on: nothing to recover
      if (Number(sys().setns(own, CLONE_NEWNET)) !== 0) {
        process.stderr.write(
          `virtwall: cannot return from network namespace ${netns}: ${String(sys().strerror(koffi.errno()))}\n`,
        );
        process.abort();
      }
    }
  } finally {
    closeSync(own);
  }
}

/**
 * An eventfd(2): a wake-up that one part of this process gives another's readable() wait (a
 * watcher's stop() ends the wait at once).
 */
export class Wakeup {
  private constructor(readonly fd: number) {}

  static open(): Wakeup {
    return new Wakeup(check(sys().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), 'eventfd'));
  }

  wake(): void {
    // the counter only grows (by one per wake): a full one (after 2^64 - 2 wakes) is woken already
    sys().write(this.fd, new Struct(8).u64(0, 1).buf, 8);
  }

  /** Only once nothing waits on it any more: a closed descriptor's number is reused. */
  close(): void {
    sys().close(this.fd);
  }
}

export class NetlinkSocket {
  private seq = Math.floor(Date.now() / 1000);
  private readonly buffer = Buffer.alloc(RECEIVE_BUFFER);

  private constructor(private fd: number) {}

  /** A socket of `protocol` in namespace `netns` (none: this process's). */
  static open(protocol: number, netns?: string): NetlinkSocket {
    const fd = inNetns(netns, () =>
      check(sys().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol), 'netlink socket'),
    );
    try {
      const one = new Struct(4).u32(0, 1).buf;
      // errors name the offending attribute in text, and do not echo our request back
      check(sys().setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4), 'NETLINK_EXT_ACK');
      check(sys().setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one, 4), 'NETLINK_CAP_ACK');
      // struct timeval: seconds and microseconds, 64 bits each
      const timeout = new Struct(16).u64(0, RECEIVE_TIMEOUT_S).buf;
      check(sys().setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, timeout.length), 'SO_RCVTIMEO');
    } catch (err) {
      sys().close(fd);
      throw err;
    }
    return new NetlinkSocket(fd);
  }

  close(): void {
    if (this.fd < 0) return;
    sys().close(this.fd);
    this.fd = -1;
  }

  /**
   * Joins multicast group `group` (events the kernel sends unasked, e.g. nftables' traces), with
   * a receive buffer of `bufferBytes` for what arrives between two drain() calls.
   */
  subscribe(group: number, bufferBytes: number): void {
    const value = (v: number) => new Struct(4).u32(0, v).buf;
    // bound (port id chosen by the kernel): an unbound socket's port id is 0, the kernel's own,
    // and a broadcast skips the socket whose port id is its sender's
    const address = new Struct(12).u16(0, AF_NETLINK).buf; // sockaddr_nl: family, pad, pid 0, groups 0
    check(sys().bind(this.fd, address, address.length), 'netlink bind');
    check(sys().setsockopt(this.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, value(group), 4), 'netlink group');
    // beyond net.core.rmem_max where we may (CAP_NET_ADMIN), as `nft monitor` does: one commit
    // queues all its events at once, a whole bulk bind's in one go
    if (Number(sys().setsockopt(this.fd, SOL_SOCKET, SO_RCVBUFFORCE, value(bufferBytes), 4)) !== 0)
      check(sys().setsockopt(this.fd, SOL_SOCKET, SO_RCVBUF, value(bufferBytes), 4), 'SO_RCVBUF');
  }

  /**
   * Resolves once a datagram is queued or `wakeup` was woken, reading nothing. The wait is a
   * poll(2) on a thread of libuv's pool: the event loop neither blocks nor polls meanwhile.
   */
  readable(wakeup: Wakeup): Promise<void> {
    const fds = [
      { fd: this.fd, events: POLLIN, revents: 0 },
      { fd: wakeup.fd, events: POLLIN, revents: 0 },
    ];
    // poll's errors (EINTR) end the wait too: the caller reads, finds nothing, and waits again
    return new Promise((resolve) => sys().poll.async(fds, fds.length, -1, () => resolve()));
  }

  /**
   * Every message queued now, without waiting; `overrun` when the kernel dropped some because
   * the buffer was full (they are lost; what follows is read again normally).
   */
  drain(): { messages: Message[]; overrun: boolean } {
    const messages: Message[] = [];
    // parsed copies: the buffer is reused
    const overrun = this.receiveQueued((datagram) => messages.push(...parseMessages(Buffer.from(datagram))));
    return { messages, overrun };
  }

  /**
   * Hands every datagram queued now (at most `limit` of them) to `each`, without waiting: a view
   * of a reused buffer, valid during the call. Returns whether the kernel dropped some because
   * the buffer was full (they are lost; what follows is read again normally).
   */
  receiveQueued(each: (datagram: Buffer) => void, limit = Number.POSITIVE_INFINITY): boolean {
    let overrun = false;
    for (let read = 0; this.fd >= 0 && read < limit; ) {
      const n = Number(sys().recv(this.fd, this.buffer, this.buffer.length, MSG_DONTWAIT | MSG_TRUNC));
      if (n < 0) {
        const errno = koffi.errno();
        if (errno === EINTR) continue;
        if (errno === ENOBUFS) {
          overrun = true;
          continue;
        }
        if (errno === EAGAIN) break;
        check(n, 'netlink receive');
      }
      read++;
      // a datagram larger than the buffer is cut: skip it rather than misread it
      if (n > this.buffer.length) continue;
      each(this.buffer.subarray(0, n));
    }
    return overrun;
  }

  /**
   * Sends the message `build` makes for the next sequence number and returns the kernel's
   * answers to it (for a dump, every message up to NLMSG_DONE); an error answer throws.
   */
  request(build: (seq: number) => Buffer): Message[] {
    const { seq, msg } = this.next(build);
    check(sys().send(this.fd, msg, msg.length, 0), 'netlink send');
    return this.answers(seq, msg);
  }

  /**
   * request(), with the send on a thread of koffi's pool: the kernel handles a request inside
   * send(), and some take it long (deleting links waits for RCU grace periods) while this
   * process goes on. Only one request of a socket may be under way at a time.
   */
  async requestInBackground(build: (seq: number) => Buffer): Promise<Message[]> {
    const { seq, msg } = this.next(build);
    await new Promise<void>((resolve, reject) =>
      sys().send.async(this.fd, msg, msg.length, 0, (err: unknown, n: number | bigint) =>
        // the errno of another thread is not ours to read: the kernel's answer says what failed
        err ? reject(err as Error) : Number(n) < 0 ? reject(new Error('netlink send failed')) : resolve(),
      ),
    );
    return this.answers(seq, msg);
  }

  private next(build: (seq: number) => Buffer): { seq: number; msg: Buffer } {
    if (this.fd < 0) throw new Error('netlink socket closed');
    this.seq = (this.seq + 1) >>> 0;
    const seq = this.seq;
    const msg = build(seq);
    if (msg.length < HEADER_SIZE) throw new Error('netlink request without header');
    return { seq, msg };
  }

  private answers(seq: number, msg: Buffer): Message[] {
    const out: Message[] = [];
    for (;;) {
      const n = Number(sys().recv(this.fd, this.buffer, this.buffer.length, MSG_TRUNC));
      if (n < 0) {
        if (koffi.errno() === EINTR) continue;
        check(n, 'netlink receive');
      }
      if (n > this.buffer.length) throw new Error(`netlink answer of ${n} bytes truncated`);
      // parsed copies: the buffer is reused
      for (const m of parseMessages(Buffer.from(this.buffer.subarray(0, n)))) {
        if (m.seq !== seq) continue; // an answer to an earlier request that timed out
        if (m.type === NLMSG.ERROR) {
          const { errno, text } = parseError(m);
          if (errno !== 0) throw new NetlinkError(errno, text);
          return out;
        }
        if (m.type === NLMSG.DONE) return out;
        out.push(m);
        // a single answer (not part of a dump) ends the exchange unless an ack follows
        if (!(m.flags & NLM_F.MULTI) && !(readU16(msg, 6) & NLM_F.ACK)) return out;
      }
    }
  }
}

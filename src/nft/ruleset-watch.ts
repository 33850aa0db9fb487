// Watching the nftables ruleset for foreign changes in-process: a netlink socket in the group of
// nftables' events, read as they come (monitor.ts tells ours from foreign ones). No child process
// and no timer: the wait is a poll(2) parked on a thread of libuv's pool, woken by the kernel or
// by stop() (an eventfd), so an idle daemon does nothing and its exit is never held up.
import { NETLINK_NETFILTER, NetlinkSocket, Wakeup } from '../netlink/socket.js';
import { foreignTransactions, type TouchedTables } from './monitor.js';
import { NFNLGRP_NFTABLES } from './nfnetlink.js';

/** What `nft monitor` asks for (nft's NFTABLES_NLEVENT_BUFSIZ): one commit queues all its events at once. */
const EVENT_BUFFER = 16 << 20;
/** Datagrams read per wake-up before the event loop gets its turn again. */
const BATCH = 64;

export interface RulesetWatch {
  /** Ends the watch; the socket is closed as soon as the parked wait has returned. */
  stop(): void;
}

export interface RulesetWatchOptions {
  /** The `ip netns` name of the namespace to watch (none: this process's). */
  netns?: string;
  /** The socket's receive buffer: a burst beyond it is an overrun, a change. */
  bufferBytes?: number;
  /** Reading failed (the watch has ended; the socket is closed). */
  onError?: (err: Error) => void;
}

/**
 * Calls `onForeign` with the tables it touched for every transaction with changes committed by a
 * process that is not ours, and with none known for every overrun of the socket's buffer (events
 * were lost). Throws if the socket cannot be opened.
 */
export function watchRuleset(
  onForeign: (touched: TouchedTables) => void,
  opts: RulesetWatchOptions = {},
): RulesetWatch {
  const socket = NetlinkSocket.open(NETLINK_NETFILTER, opts.netns);
  let wakeup: Wakeup;
  try {
    socket.subscribe(NFNLGRP_NFTABLES, opts.bufferBytes ?? EVENT_BUFFER);
    wakeup = Wakeup.open();
  } catch (err) {
    socket.close();
    throw err;
  }
  const reader = foreignTransactions(onForeign);
  let stopped = false;
  const read = async () => {
    try {
      for (;;) {
        await socket.readable(wakeup);
        if (stopped) break;
        if (socket.receiveQueued(reader.datagram, BATCH)) reader.overrun();
      }
    } finally {
      socket.close();
      wakeup.close();
    }
  };
  read().catch((err: Error) => opts.onError?.(err));
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      wakeup.wake();
    },
  };
}

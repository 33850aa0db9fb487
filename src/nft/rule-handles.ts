// The handles the kernel gave the rules a transaction of ours added, read from nftables' change
// events: a committed transaction multicasts an NFT_MSG_NEWRULE per added rule (its table, chain
// and handle), in the transaction's order, then NFT_MSG_NEWGEN naming the committing process.
// This is what nft's --echo reports, without its cost: for an echo nft 1.0.6 first fetches the
// whole ruleset, every element of every set (0.25-0.45 s beside the nwfilter tables of 10,000
// ports), where a network's start or heal adds a few dozen rules.
import { isOwnProcess } from '../exec/runner.js';
import { attrText, parseAttrs, scanMessages } from '../netlink/message.js';
import { NETLINK_NETFILTER, NetlinkSocket } from '../netlink/socket.js';
import {
  committerOf,
  familyOfNfproto,
  NFGENMSG_SIZE,
  NFNL_SUBSYS_NFTABLES,
  NFNLGRP_NFTABLES,
  NFT_MSG_NEWGEN,
} from './nfnetlink.js';
import type { Family } from './objects.js';

const NFT_MSG_NEWRULE = 6;
const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;
const NFTA_RULE_HANDLE = 3;
/** Room for the events of the moment between subscribing and reading (a foreign bulk commit may fall in it). */
const EVENT_BUFFER = 4 << 20;

/** One committed transaction: the rules it added, in order, and its committer. */
export interface CommittedRules {
  pid: number | undefined;
  rules: { family: Family; table: string; chain: string; handle: number }[];
}

/** A reader of the group's datagrams into the transactions they commit (pure, for unit tests). */
export function committedRules(): { datagram(buf: Buffer): void; committed: CommittedRules[] } {
  const committed: CommittedRules[] = [];
  let rules: CommittedRules['rules'] = [];
  return {
    committed,
    datagram: (buf) =>
      scanMessages(buf, (type, start, end) => {
        const msg = type & 0xff;
        // other changes (a foreign bulk's element events) are skipped unread
        if (type >> 8 !== NFNL_SUBSYS_NFTABLES || (msg !== NFT_MSG_NEWRULE && msg !== NFT_MSG_NEWGEN)) return;
        const attrs = parseAttrs(buf.subarray(start, end), NFGENMSG_SIZE);
        if (msg === NFT_MSG_NEWRULE) {
          const family = familyOfNfproto(buf[start]!);
          const handle = attrs.get(NFTA_RULE_HANDLE);
          if (family && handle?.length === 8)
            rules.push({
              family,
              table: attrText(attrs.get(NFTA_RULE_TABLE)) ?? '',
              chain: attrText(attrs.get(NFTA_RULE_CHAIN)) ?? '',
              handle: Number(handle.readBigUInt64BE(0)),
            });
        } else {
          committed.push({ pid: committerOf(attrs), rules });
          rules = [];
        }
      }),
  };
}

/**
 * The handles of `added` (the rules a batch added to table `table` of each family, in the
 * batch's order) in the transaction of ours among `committed` that added exactly those rules to
 * that table; undefined when none did.
 */
export function handlesOf(
  committed: readonly CommittedRules[],
  table: string,
  added: readonly { family: Family; name: string }[],
  own: (pid: number) => boolean = isOwnProcess,
): number[] | undefined {
  for (const t of committed) {
    if (t.pid === undefined || !own(t.pid)) continue;
    const rules = t.rules.filter((r) => r.table === table);
    if (
      rules.length === added.length &&
      rules.every((r, i) => r.family === added[i]!.family && r.chain === added[i]!.name)
    )
      return rules.map((r) => r.handle);
  }
  return undefined;
}

/**
 * A subscription to the namespace's nftables events, opened before a commit: read() afterwards
 * gives the transactions committed since (the kernel queues a commit's events before it
 * acknowledges the batch), or undefined when events were lost.
 */
export class RuleEvents {
  private constructor(private readonly socket: NetlinkSocket) {}

  /** `netns`: the `ip netns` name (none: this process's namespace). */
  static open(netns?: string): RuleEvents {
    const socket = NetlinkSocket.open(NETLINK_NETFILTER, netns);
    try {
      socket.subscribe(NFNLGRP_NFTABLES, EVENT_BUFFER);
    } catch (err) {
      socket.close();
      throw err;
    }
    return new RuleEvents(socket);
  }

  read(): CommittedRules[] | undefined {
    const reader = committedRules();
    return this.socket.receiveQueued(reader.datagram) ? undefined : reader.committed;
  }

  close(): void {
    this.socket.close();
  }
}

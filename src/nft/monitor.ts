// Telling our own ruleset changes from everyone else's in nftables' netlink events (multicast
// group NFNLGRP_NFTABLES). The kernel sends each change of a committed transaction (table, chain,
// rule, set, element, object, flowtable added or deleted), then NFT_MSG_NEWGEN, whose
// NFTA_GEN_PROC_PID names the committing thread (nf_tables_fill_gen_info: big-endian, whatever
// the host's order); a transaction committed by a process our runner started (nft,
// iptables-nft, ebtables-nft) or by a thread of ours (libnftables in-process) is ours and needs
// no heal. Besides message types and that attribute, a change's table is read (its family in
// the nfgenmsg header, its name in the first attribute, which every object message puts there:
// NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, ...), decoded only when it differs from the
// previous change's: a foreign transaction says which tables it touched, and a bulk bind's
// 80,000 element events cost little more than a header each.
import { isOwnProcess } from '../exec/runner.js';
import { parseAttrs, readU16, scanMessages } from '../netlink/message.js';
import { committerOf, familyOfNfproto, NFGENMSG_SIZE, NFNL_SUBSYS_NFTABLES, NFT_MSG_NEWGEN } from './nfnetlink.js';
import { objectKey } from './objects.js';

/** The table's name: the first attribute of every object message (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE...). */
const NFTA_TABLE = 1;

type Role = 'change' | 'commit';

/**
 * The messages the kernel multicasts to the group (enum nf_tables_msg_types), by type. A type
 * not listed (a later kernel's object) counts as a change: a needless heal costs less than a
 * missed one.
 */
const ROLES: Readonly<Record<number, Role>> = {
  0: 'change', // NFT_MSG_NEWTABLE
  2: 'change', // NFT_MSG_DELTABLE
  3: 'change', // NFT_MSG_NEWCHAIN
  5: 'change', // NFT_MSG_DELCHAIN
  6: 'change', // NFT_MSG_NEWRULE
  8: 'change', // NFT_MSG_DELRULE
  9: 'change', // NFT_MSG_NEWSET
  11: 'change', // NFT_MSG_DELSET
  12: 'change', // NFT_MSG_NEWSETELEM
  14: 'change', // NFT_MSG_DELSETELEM
  [NFT_MSG_NEWGEN]: 'commit', // the transaction's end
  18: 'change', // NFT_MSG_NEWOBJ
  20: 'change', // NFT_MSG_DELOBJ
  22: 'change', // NFT_MSG_NEWFLOWTABLE
  24: 'change', // NFT_MSG_DELFLOWTABLE
};

export interface TransactionReader {
  /** One datagram read from the group's socket (only read during the call). */
  datagram(buf: Buffer): void;
  /** The kernel dropped events (ENOBUFS): whatever they were, the ruleset may have changed. */
  overrun(): void;
}

/**
 * The tables a foreign transaction touched, each as objectKey(family, name); undefined when it
 * cannot be told (events were lost, or a change named no table nft knows).
 */
export type TouchedTables = ReadonlySet<string> | undefined;

/**
 * A reader of the group's datagrams that calls `onForeign` once for every transaction with
 * changes committed by a process for which `own` is false, and once for every overrun.
 */
export function foreignTransactions(
  onForeign: (touched: TouchedTables) => void,
  own = isOwnProcess,
): TransactionReader {
  let changes = false;
  let touched: Set<string> | undefined = new Set();
  // the previous change's table, as it came: most changes are in the table of the one before
  let last: Buffer | undefined;
  let lastKey: string | undefined;
  const tableOf = (buf: Buffer, start: number, end: number): string | undefined => {
    const at = start + NFGENMSG_SIZE;
    if (end - at < 4 || readU16(buf, at + 2) !== NFTA_TABLE) return undefined;
    const raw = buf.subarray(start, Math.min(end, at + readU16(buf, at)));
    if (last?.equals(raw)) return lastKey;
    const family = familyOfNfproto(buf[start]!);
    const name = buf.toString('latin1', at + 4, at + readU16(buf, at)).replace(/\0+$/, '');
    last = Buffer.from(raw);
    lastKey = family && objectKey(family, name);
    return lastKey;
  };
  return {
    datagram: (buf) =>
      scanMessages(buf, (type, start, end) => {
        if (type >> 8 !== NFNL_SUBSYS_NFTABLES) return;
        if ((ROLES[type & 0xff] ?? 'change') === 'change') {
          changes = true;
          const table = tableOf(buf, start, end);
          if (table === undefined) touched = undefined;
          else touched?.add(table);
          return;
        }
        const pid = committerOf(parseAttrs(buf.subarray(start, end), NFGENMSG_SIZE));
        // a generation without its committer cannot be ours
        if (changes && (pid === undefined || !own(pid))) onForeign(touched);
        changes = false;
        touched = new Set();
      }),
    overrun: () => {
      // the lost events may have ended the transaction under way: what follows starts afresh
      changes = false;
      touched = new Set();
      onForeign(undefined);
    },
  };
}

// The classifier of nftables' netlink events: datagrams built here from the kernel's layout
// (include/uapi/linux/netfilter/nf_tables.h, nfnetlink.h; net/netfilter/nf_tables_api.c's
// nf_tables_fill_gen_info), not from anything virtwall writes: a transaction's changes, then
// NFT_MSG_NEWGEN naming the committer in NFTA_GEN_PROC_PID (big-endian).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { foreignTransactions } from '../../src/nft/monitor.js';

const LE = endianness() === 'LE';
/** nfnetlink: a message's type is its subsystem's id (NFNL_SUBSYS_NFTABLES = 10) << 8 | its own. */
const nft = (msg: number) => (10 << 8) | msg;
const NFT_MSG = { NEWTABLE: 0, DELTABLE: 2, NEWRULE: 6, NEWSETELEM: 12, DELSETELEM: 14, NEWGEN: 15, NEWOBJ: 18 };
const NFPROTO_INET = 1;
const NFTA_GEN_ID = 1;
const NFTA_GEN_PROC_PID = 2;
const NFTA_GEN_PROC_NAME = 3;
const OWN = 4242;
const FOREIGN = 777;

const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  if (LE) b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(v);
  else b.writeUInt32BE(v);
  return b;
};
const be32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};
const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
/** struct nlattr (length without padding, type), payload, padding. */
const nla = (type: number, payload: Buffer) => pad(Buffer.concat([u16(4 + payload.length), u16(type), payload]));
/** struct nlmsghdr, struct nfgenmsg (family, NFNETLINK_V0, resource id big-endian), attributes. */
function message(type: number, attrs: Buffer[] = [], family = NFPROTO_INET): Buffer {
  const nfgen = Buffer.from([family, 0, 0, 0]);
  const body = Buffer.concat([nfgen, ...attrs]);
  return Buffer.concat([u32(16 + body.length), u16(type), u16(0), u32(0), u32(0), body]);
}
/** The kernel's NEWGEN: generation id, committing pid (both big-endian), the process's comm. */
const generation = (pid: number, comm = 'nft') =>
  message(
    nft(NFT_MSG.NEWGEN),
    [nla(NFTA_GEN_ID, be32(9)), nla(NFTA_GEN_PROC_PID, be32(pid)), nla(NFTA_GEN_PROC_NAME, Buffer.from(`${comm}\0`))],
    0, // NFPROTO_UNSPEC
  );
const table = (name: string) => message(nft(NFT_MSG.NEWTABLE), [nla(1, Buffer.from(`${name}\0`))]);

function reader() {
  let foreign = 0;
  const r = foreignTransactions(
    () => foreign++,
    (pid) => pid === OWN,
  );
  return { r, count: () => foreign };
}

describe('nftables events: own and foreign transactions', () => {
  it('a transaction with changes committed by another process is foreign, once', () => {
    const { r, count } = reader();
    r.datagram(Buffer.concat([table('t'), message(nft(NFT_MSG.NEWRULE))]));
    assert.equal(count(), 0, 'nothing before the transaction ends');
    r.datagram(generation(FOREIGN));
    assert.equal(count(), 1);
  });

  it('one committed by a process of ours is not, however many changes it had', () => {
    const { r, count } = reader();
    const elements = Array.from({ length: 500 }, () => message(nft(NFT_MSG.NEWSETELEM)));
    r.datagram(Buffer.concat(elements));
    r.datagram(Buffer.concat([message(nft(NFT_MSG.DELSETELEM)), generation(OWN, 'node')]));
    assert.equal(count(), 0);
  });

  it('the committer is read big-endian on every host', () => {
    const { r, count } = reader();
    // a little-endian reading of OWN's bytes is another pid: ours only if read as the kernel wrote it
    r.datagram(Buffer.concat([table('t'), generation(OWN)]));
    assert.equal(count(), 0);
    const swapped = be32(OWN).readUInt32LE(0);
    r.datagram(Buffer.concat([table('t'), generation(swapped)]));
    assert.equal(count(), 1);
  });

  it('a generation without changes before it (an empty commit) wakes nothing', () => {
    const { r, count } = reader();
    r.datagram(generation(FOREIGN));
    r.datagram(Buffer.concat([table('t'), generation(OWN), generation(FOREIGN)]));
    assert.equal(count(), 0);
  });

  it('transactions are told apart inside one datagram and across datagrams', () => {
    const { r, count } = reader();
    r.datagram(Buffer.concat([table('a'), generation(FOREIGN), table('b'), generation(OWN), table('c')]));
    assert.equal(count(), 1);
    r.datagram(Buffer.concat([message(nft(NFT_MSG.NEWOBJ)), generation(FOREIGN)]));
    assert.equal(count(), 2);
  });

  it('a change of a type the table does not know still counts; other subsystems do not', () => {
    const { r, count } = reader();
    r.datagram(Buffer.concat([message(nft(40)), generation(FOREIGN)]));
    assert.equal(count(), 1);
    // NFNL_SUBSYS_CTNETLINK (1): not a ruleset change
    r.datagram(Buffer.concat([message((1 << 8) | 0), generation(FOREIGN)]));
    assert.equal(count(), 1);
  });

  it('a generation that names no committer is not ours', () => {
    const { r, count } = reader();
    r.datagram(Buffer.concat([table('t'), message(nft(NFT_MSG.NEWGEN), [nla(NFTA_GEN_ID, be32(3))], 0)]));
    assert.equal(count(), 1);
  });

  it('an overrun is a change, and what was under way before it is dropped', () => {
    const { r, count } = reader();
    r.datagram(table('t'));
    r.overrun();
    assert.equal(count(), 1);
    // the rest of a transaction of ours whose changes were partly lost: nothing more
    r.datagram(generation(FOREIGN));
    assert.equal(count(), 1);
  });
});

describe('nftables events: the tables a foreign transaction touched', () => {
  /** A reader that keeps what each foreign transaction reported. */
  function touchedReader() {
    const seen: (string[] | undefined)[] = [];
    const r = foreignTransactions(
      (touched) => seen.push(touched && [...touched].sort()),
      (pid) => pid === OWN,
    );
    return { r, seen };
  }
  /** A change in table `name` of `family`: an object message names its table in its first attribute. */
  const inTable = (msg: number, name: string, family: number) =>
    message(nft(msg), [nla(1, Buffer.from(`${name}\0`)), nla(2, Buffer.from('rest\0'))], family);
  const NFPROTO = { INET: 1, IPV4: 2, BRIDGE: 7, IPV6: 10 };

  it('names each table by family and name, once however many changes it had', () => {
    const { r, seen } = touchedReader();
    r.datagram(
      Buffer.concat([
        inTable(NFT_MSG.NEWRULE, 'filter', NFPROTO.IPV4),
        inTable(NFT_MSG.NEWRULE, 'filter', NFPROTO.IPV4),
        inTable(NFT_MSG.NEWSETELEM, 'virtwall_nwf', NFPROTO.BRIDGE),
        inTable(NFT_MSG.DELTABLE, 'filter', NFPROTO.IPV6),
        inTable(NFT_MSG.NEWRULE, 'filter', NFPROTO.IPV4),
        generation(FOREIGN),
      ]),
    );
    assert.deepEqual(seen, [['bridge virtwall_nwf', 'ip filter', 'ip6 filter']]);
  });

  it('starts afresh with each transaction, ours included', () => {
    const { r, seen } = touchedReader();
    r.datagram(Buffer.concat([inTable(NFT_MSG.NEWRULE, 'mine', NFPROTO.INET), generation(OWN)]));
    r.datagram(Buffer.concat([inTable(NFT_MSG.NEWRULE, 'theirs', NFPROTO.INET), generation(FOREIGN)]));
    assert.deepEqual(seen, [['inet theirs']]);
  });

  it('none known when a change names no table, or events were lost', () => {
    const { r, seen } = touchedReader();
    r.datagram(
      Buffer.concat([
        inTable(NFT_MSG.NEWRULE, 'filter', NFPROTO.IPV4),
        message(nft(NFT_MSG.NEWOBJ)),
        generation(FOREIGN),
      ]),
    );
    // a family nft has no name for
    r.datagram(Buffer.concat([inTable(NFT_MSG.NEWRULE, 'x', 99), generation(FOREIGN)]));
    r.overrun();
    assert.deepEqual(seen, [undefined, undefined, undefined]);
  });
});

// The classifier of nftables' netlink events: datagrams built from the kernel's layout
// (test/support/nft-events.ts): a transaction's changes, then NFT_MSG_NEWGEN naming the
// committer in NFTA_GEN_PROC_PID (big-endian).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { foreignTransactions } from '../../src/nft/monitor.js';
import { be32, generation, message, nft, NFT_MSG, NFTA_GEN_ID, nla } from '../support/nft-events.js';

const OWN = 4242;
const FOREIGN = 777;

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

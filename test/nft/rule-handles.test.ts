// The handles of a batch's added rules, read from nftables' events (datagrams built from the
// kernel's layout, test/support/nft-events.ts): each NFT_MSG_NEWRULE names its table
// (NFTA_RULE_TABLE), chain (NFTA_RULE_CHAIN) and handle (NFTA_RULE_HANDLE, big-endian 64 bits),
// and NFT_MSG_NEWGEN ends the transaction with its committer's pid.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { committedRules, handlesOf } from '../../src/nft/rule-handles.js';
import { be64, generation, message, nft, NFPROTO, NFT_MSG, nla, text } from '../support/nft-events.js';

const OWN = 4242;
const FOREIGN = 777;
const own = (pid: number) => pid === OWN;

const rule = (family: number, table: string, chain: string, handle: number) =>
  message(nft(NFT_MSG.NEWRULE), [nla(1, text(table)), nla(2, text(chain)), nla(3, be64(handle))], family);

function read(...datagrams: Buffer[]) {
  const r = committedRules();
  for (const d of datagrams) r.datagram(d);
  return r.committed;
}

const added = [
  { family: 'ip' as const, name: 'guest_output' },
  { family: 'ip' as const, name: 'guest_nat' },
  { family: 'ip6' as const, name: 'guest_output' },
];

describe('rule handles from nftables events', () => {
  it("our transaction's added rules give their handles in the batch's order; other tables' rules are not ours", () => {
    const committed = read(
      Buffer.concat([
        rule(NFPROTO.IP, 'libvirt_network', 'guest_output', 12),
        rule(NFPROTO.IP, 'libvirt_network_bodies', 'guest_output', 3),
        rule(NFPROTO.IP, 'libvirt_network', 'guest_nat', 13),
      ]),
      // one transaction may come in several datagrams
      Buffer.concat([rule(NFPROTO.IP6, 'libvirt_network', 'guest_output', 7), generation(OWN)]),
    );
    assert.deepEqual(handlesOf(committed, 'libvirt_network', added, own), [12, 13, 7]);
  });

  it('a foreign transaction adding the same rules, or ours adding others, gives none', () => {
    const same = Buffer.concat([
      rule(NFPROTO.IP, 'libvirt_network', 'guest_output', 20),
      rule(NFPROTO.IP, 'libvirt_network', 'guest_nat', 21),
      rule(NFPROTO.IP6, 'libvirt_network', 'guest_output', 22),
    ]);
    assert.equal(handlesOf(read(same, generation(FOREIGN)), 'libvirt_network', added, own), undefined);
    const fewer = Buffer.concat([rule(NFPROTO.IP, 'libvirt_network', 'guest_output', 20), generation(OWN)]);
    assert.equal(handlesOf(read(fewer), 'libvirt_network', added, own), undefined);
    // the same chains in another family are other chains
    const family = Buffer.concat([
      rule(NFPROTO.IP, 'libvirt_network', 'guest_output', 20),
      rule(NFPROTO.IP, 'libvirt_network', 'guest_nat', 21),
      rule(NFPROTO.IP, 'libvirt_network', 'guest_output', 22),
      generation(OWN),
    ]);
    assert.equal(handlesOf(read(family), 'libvirt_network', added, own), undefined);
  });

  it('no transaction of ours adding those rules (events lost, the scratch table only, another order) gives none', () => {
    const ours = [
      rule(NFPROTO.IP, 'libvirt_network', 'guest_output', 20),
      rule(NFPROTO.IP, 'libvirt_network', 'guest_nat', 21),
      rule(NFPROTO.IP6, 'libvirt_network', 'guest_output', 22),
    ];
    // every event lost, or all but the generation that ends the transaction
    assert.equal(handlesOf([], 'libvirt_network', added, own), undefined);
    assert.equal(handlesOf(read(Buffer.concat(ours)), 'libvirt_network', added, own), undefined);
    const scratch = [
      rule(NFPROTO.IP, 'libvirt_network_bodies', 'guest_output', 1),
      rule(NFPROTO.IP, 'libvirt_network_bodies', 'guest_nat', 2),
      rule(NFPROTO.IP6, 'libvirt_network_bodies', 'guest_output', 1),
    ];
    assert.equal(
      handlesOf(read(Buffer.concat([...scratch, generation(OWN)])), 'libvirt_network', added, own),
      undefined,
    );
    const swapped = [ours[1]!, ours[0]!, ours[2]!];
    assert.equal(
      handlesOf(read(Buffer.concat([...swapped, generation(OWN)])), 'libvirt_network', added, own),
      undefined,
    );
    // the same rules ended by our generation are found: the cases above differ in that only
    assert.deepEqual(
      handlesOf(read(Buffer.concat([...ours, generation(OWN)])), 'libvirt_network', added, own),
      [20, 21, 22],
    );
  });

  it('of several transactions, ours is found between foreign ones; a transaction not ended yet counts for nothing', () => {
    const committed = read(
      Buffer.concat([rule(NFPROTO.IP, 'libvirt_network', 'guest_output', 5), generation(FOREIGN)]),
      Buffer.concat([
        rule(NFPROTO.IP, 'libvirt_network', 'guest_output', 6),
        rule(NFPROTO.IP, 'libvirt_network', 'guest_nat', 7),
        rule(NFPROTO.IP6, 'libvirt_network', 'guest_output', 2),
        generation(OWN),
      ]),
      rule(NFPROTO.IP, 'libvirt_network', 'guest_output', 8),
    );
    assert.equal(committed.length, 2);
    assert.deepEqual(handlesOf(committed, 'libvirt_network', added, own), [6, 7, 2]);
    // handles beyond 2^32 (a table's handles are 64 bits) are read whole
    const big = read(Buffer.concat([rule(NFPROTO.IP, 't', 'c', 2 ** 40 + 1), generation(OWN)]));
    assert.deepEqual(handlesOf(big, 't', [{ family: 'ip', name: 'c' }], own), [2 ** 40 + 1]);
  });
});

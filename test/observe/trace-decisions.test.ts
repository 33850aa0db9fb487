// Pure parts of nwfilter-trace: a kernel trace message decoded (nf_tables.h's attributes, in
// network byte order), a packet summarised from its headers, and a packet's events turned into
// the decision of our rule (direction from the port chain the dispatch jumped to).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { attr, attrNested, attrString, encodeMessage, parseMessages } from '../../src/netlink/message.js';
import { parseTraceEvent, type TraceEvent } from '../../src/nft/trace-events.js';
import { DecisionTracker } from '../../src/observe/trace/decisions.js';
import { packetSummary } from '../../src/observe/trace/packet.js';

const be32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const be64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};

/** An NFT_MSG_TRACE message as the kernel sends it (nfgenmsg family 7: bridge). */
function traceMessage(attrs: Buffer[], type = (10 << 8) | 17): Buffer {
  return encodeMessage({ type, flags: 0, seq: 0 }, Buffer.from([7, 0, 0, 0]), attrs);
}

const ETHER = Buffer.from('5254007900125254007900110800', 'hex');
// IPv4, protocol ICMP, 10.79.0.99 > 10.79.0.12
const IPV4 = Buffer.from('450000540000400040010000' + '0a4f0063' + '0a4f000c', 'hex');
const ICMP_ECHO = Buffer.from('08000000', 'hex');

describe('trace events', () => {
  it('decodes a rule event: ids, names, handle, verdict with its chain, interfaces, headers', () => {
    const m = parseMessages(
      traceMessage([
        attrString(1, 'virtwall_nwf'),
        attrString(2, 'prerouting'),
        attr(3, be64(47)),
        attr(4, be32(3)),
        attrNested(5, [attr(1, be32(-3)), attrString(2, 'sabc_from')]),
        attr(6, be32(0x1a05c19c)),
        attr(7, ETHER),
        attr(10, be32(4)),
      ]),
    )[0]!;
    const e = parseTraceEvent(m)!;
    assert.deepEqual(
      { ...e, ll: e.ll?.toString('hex') },
      {
        id: 0x1a05c19c,
        family: 'bridge',
        table: 'virtwall_nwf',
        chain: 'prerouting',
        type: 'rule',
        handle: 47,
        verdict: 'jump',
        target: 'sabc_from',
        iif: 4,
        ll: ETHER.toString('hex'),
      },
    );
  });

  it('reads a policy event’s policy, and ignores other messages', () => {
    const policy = [attrString(1, 't'), attrString(2, 'c'), attr(4, be32(1)), attr(6, be32(1)), attr(16, be32(0))];
    assert.equal(parseTraceEvent(parseMessages(traceMessage(policy))[0]!)?.verdict, 'drop');
    assert.equal(parseTraceEvent(parseMessages(traceMessage(policy, (10 << 8) | 6))[0]!), undefined);
  });
});

describe('packet summary', () => {
  it('names addresses and the transport; short headers give less, never throw', () => {
    assert.equal(
      packetSummary(ETHER, IPV4, ICMP_ECHO),
      '52:54:00:79:00:11 > 52:54:00:79:00:12 ip 10.79.0.99 > 10.79.0.12 icmp type 8 code 0',
    );
    assert.equal(
      packetSummary(ETHER, IPV4.subarray(0, 10), undefined),
      '52:54:00:79:00:11 > 52:54:00:79:00:12 ethertype 0x0800',
    );
    assert.equal(packetSummary(undefined, undefined, undefined), 'packet');
  });
});

describe('decisions', () => {
  const ev = (e: Partial<TraceEvent>): TraceEvent => ({
    id: 1,
    family: 'bridge',
    table: 'virtwall_nwf',
    chain: 'prerouting',
    type: 'rule',
    ...e,
  });

  it('a drop in a port chain is the decision of that rule, from the port', () => {
    const t = new DecisionTracker('virtwall_nwf');
    // another table's events feed the packet's headers and interfaces, and decide nothing
    assert.equal(
      t.add(ev({ table: 'other', chain: 'c', verdict: 'continue', iif: 4, ll: ETHER, network: IPV4 }), 0),
      undefined,
    );
    assert.equal(t.add(ev({ verdict: 'jump', target: 'sabc_from', handle: 9 }), 0), undefined);
    assert.equal(t.add(ev({ chain: 'sabc_from', verdict: 'return', handle: 10 }), 0), undefined);
    assert.deepEqual(t.add(ev({ chain: 'sabc_from_ipv4_ip', verdict: 'drop', handle: 33 }), 5), {
      time: 5,
      ifindex: 4,
      direction: 'from',
      packet: '52:54:00:79:00:11 > 52:54:00:79:00:12 ip 10.79.0.99 > 10.79.0.12 icmp',
      verdict: 'drop',
      rule: { family: 'bridge', chain: 'sabc_from_ipv4_ip', handle: 33 },
    });
  });

  it('a policy decides for the port the hook dispatched to (to the port: its oif), and only then', () => {
    const t = new DecisionTracker('virtwall_nwf');
    // not dispatched: no port's filter saw it
    assert.equal(t.add(ev({ id: 2, type: 'policy', verdict: 'accept', iif: 3 }), 0), undefined);
    t.add(ev({ id: 3, chain: 'postrouting', verdict: 'jump', target: 'sabc_to', oif: 6 }), 0);
    assert.deepEqual(t.add(ev({ id: 3, chain: 'postrouting', type: 'policy', verdict: 'accept' }), 1), {
      time: 1,
      ifindex: 6,
      direction: 'to',
      packet: 'packet',
      verdict: 'accept',
    });
  });

  it('in the hook that starts tracing, the trace chain names the direction before its hooked chain shows', () => {
    const t = new DecisionTracker('virtwall_nwf');
    // bridge postrouting: the packet is traced from the rule in sabc_to_trace on
    t.add(ev({ id: 4, chain: 'sabc_to_trace', verdict: 'continue', handle: 80, oif: 6 }), 0);
    t.add(ev({ id: 4, chain: 'sabc_to_trace', verdict: 'goto', target: 'sabc_to', handle: 81 }), 0);
    assert.deepEqual(t.add(ev({ id: 4, chain: 'postrouting', type: 'policy', verdict: 'accept' }), 2), {
      time: 2,
      ifindex: 6,
      direction: 'to',
      packet: 'packet',
      verdict: 'accept',
    });
    // a later hook (the flag is on): its dispatch jumps to a trace chain; the direction is its port chain's
    t.add(ev({ id: 4, family: 'inet', chain: 'postrouting', verdict: 'jump', target: 'sdef_fwd_to_trace' }), 3);
    t.add(ev({ id: 4, family: 'inet', chain: 'sdef_fwd_to_trace', verdict: 'goto', target: 'sdef_fwd_to' }), 3);
    assert.deepEqual(t.add(ev({ id: 4, family: 'inet', chain: 'sdef_fwd_to', verdict: 'drop', handle: 7 }), 3), {
      time: 3,
      ifindex: 6,
      direction: 'to',
      packet: 'packet',
      verdict: 'drop',
      rule: { family: 'inet', chain: 'sdef_fwd_to', handle: 7 },
    });
  });

  it("mac_filter's check in a trace chain decides from the port; a port without a chain of its own there has no policy decision", () => {
    const t = new DecisionTracker('virtwall_nwf');
    t.add(ev({ id: 5, chain: 'from_trace_mac', verdict: 'continue', handle: 90, iif: 4 }), 0);
    assert.deepEqual(t.add(ev({ id: 5, chain: 'from_trace_mac', verdict: 'drop', handle: 91 }), 1), {
      time: 1,
      ifindex: 4,
      direction: 'from',
      packet: 'packet',
      verdict: 'drop',
      rule: { family: 'bridge', chain: 'from_trace_mac', handle: 91 },
    });
    t.add(ev({ id: 6, chain: 'from_trace', verdict: 'continue', handle: 92, iif: 4 }), 0);
    assert.equal(t.add(ev({ id: 6, type: 'policy', verdict: 'accept' }), 1), undefined);
  });
});

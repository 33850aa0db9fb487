// Typed nft rules (src/nft/expr.ts): the text and JSON renderers by value, and, where the kernel is
// at hand, that nft reads our text as the rule our JSON describes (the kernel lists it so) and
// accepts our JSON itself (loading it gives the same listing as the text).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  concat,
  counter,
  elementJson,
  elementText,
  jump,
  match,
  meta,
  num,
  payload,
  raw,
  ruleText,
  setref,
  statementJson,
  str,
  sym,
  verdict,
  type Statement,
  type Value,
} from '../../src/nft/expr.js';
import { kernelBody } from '../../src/nft/kernel-body.js';
import type { Json } from '../../src/nft/objects.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';

const mac = (addr: string): Value => ({ kind: 'ether', addr });
const ip = (addr: string): Value => ({ kind: 'ip', addr });
const ip6 = (addr: string): Value => ({ kind: 'ip6', addr });
const etherSaddr = payload('ether', 'saddr');

/** Rules of a bridge table chain whose listing nft does not rewrite: text and JSON say the same. */
const BRIDGE_RULES: { text: string; statements: Statement[] }[] = [
  {
    text: 'iifname . ether saddr @s1 counter return',
    statements: [match(concat([meta('iifname'), etherSaddr]), setref('s1')), counter, verdict('return')],
  },
  {
    text: 'ether saddr & ff:ff:ff:00:00:00 52:54:00:00:00:00 @nh,48,16 0x3 oifname . @nh,64,48 @r accept',
    statements: [
      match({ kind: 'and', expr: etherSaddr, mask: mac('ff:ff:ff:00:00:00') }, mac('52:54:00:00:00:00')),
      match(raw('nh', 48, 16), num(3, 0)),
      match(concat([meta('oifname'), raw('nh', 64, 48)]), setref('r')),
      verdict('accept'),
    ],
  },
  {
    text: 'ip6 saddr != fe80::/10 drop',
    statements: [
      match(payload('ip6', 'saddr'), { kind: 'prefix', addr: ip6('fe80::'), len: 10 }, true),
      verdict('drop'),
    ],
  },
  {
    text: 'ip daddr 10.0.0.1-10.0.0.9 drop',
    statements: [
      match(payload('ip', 'daddr'), { kind: 'range', from: ip('10.0.0.1'), to: ip('10.0.0.9') }),
      verdict('drop'),
    ],
  },
  {
    text: 'meta mark set iifname map @m',
    statements: [{ kind: 'mangle', key: meta('mark'), value: { kind: 'lookup', key: meta('iifname'), map: 'm' } }],
  },
  { text: 'iifname vmap @v', statements: [{ kind: 'vmap', key: meta('iifname'), map: 'v' }] },
  { text: 'counter jump c', statements: [counter, jump('c')] },
];

const INET_RULES: { text: string; statements: Statement[] }[] = [
  {
    text: 'add @d { meta mark . ip saddr ct count over 5 } counter drop',
    statements: [
      {
        kind: 'set add',
        set: 'd',
        elem: concat([meta('mark'), payload('ip', 'saddr')]),
        stmts: [{ kind: 'ct count', count: 5, over: true }],
      },
      counter,
      verdict('drop'),
    ],
  },
  {
    text: 'meta nfproto ipv6 tcp option 5 exists ct state established,new ct direction original return',
    statements: [
      match(meta('nfproto'), sym('ipv6')),
      match({ kind: 'tcp option', option: 5 }, { kind: 'boolean', value: true }),
      match({ kind: 'ct', key: 'state' }, { kind: 'flags', names: ['established', 'new'] }),
      match({ kind: 'ct', key: 'direction' }, sym('original')),
      verdict('return'),
    ],
  },
  { text: 'meta mark set 0x00000000', statements: [{ kind: 'mangle', key: meta('mark'), value: num(0, 8) }] },
];

/** Rules nft lists in its own normal form (kernel-body.ts): dependencies dropped, names for numbers. */
const NORMALISED: { family: 'bridge' | 'inet'; statements: Statement[] }[] = [
  {
    family: 'bridge',
    statements: [
      match(payload('ether', 'type'), sym('ip6')),
      match(meta('l4proto'), num(17)),
      match(payload('th', 'dport'), num(547)),
      verdict('accept'),
    ],
  },
  {
    family: 'bridge',
    statements: [
      match(payload('ether', 'type'), num(0x0800, 4)),
      match(payload('ip', 'protocol'), num(6)),
      match(payload('th', 'sport'), num(80)),
      verdict('drop'),
    ],
  },
  {
    family: 'bridge',
    statements: [
      match(payload('ether', 'type'), sym('arp')),
      match(concat([meta('iifname'), payload('arp', 'saddr ip')]), setref('a')),
      verdict('return'),
    ],
  },
  { family: 'bridge', statements: [match(payload('ether', 'type'), num(0x0806, 4)), counter, verdict('accept')] },
  {
    family: 'inet',
    statements: [
      match(meta('nfproto'), sym('ipv4')),
      match(meta('l4proto'), sym('udp')),
      match(payload('th', 'dport'), num(53)),
      verdict('drop'),
    ],
  },
  {
    family: 'inet',
    statements: [
      match(meta('nfproto'), sym('ipv6')),
      match(meta('l4proto'), sym('tcp')),
      match({ kind: 'and', expr: payload('tcp', 'flags'), mask: num(0x12, 0) }, num(2, 0)),
      verdict('drop'),
    ],
  },
];

/** What the network firewall writes (libvirt's nftables rules), in an ip table. */
const NAT_RULES: { chain: 'post' | 'f'; statements: Statement[] }[] = [
  {
    chain: 'post',
    statements: [
      match(meta('l4proto'), sym('tcp')),
      match(payload('ip', 'saddr'), { kind: 'prefix', addr: ip('192.168.122.0'), len: 24 }),
      match(payload('ip', 'daddr'), { kind: 'prefix', addr: ip('192.168.122.0'), len: 24 }, true),
      match(meta('oifname'), str('eth0')),
      counter,
      { kind: 'masquerade', ports: [1024, 65535] },
    ],
  },
  {
    chain: 'post',
    statements: [
      match(meta('l4proto'), sym('udp')),
      counter,
      { kind: 'snat', addr: { kind: 'range', from: ip('10.0.0.1'), to: ip('10.0.0.5') }, ports: [1024, 65535] },
    ],
  },
  { chain: 'post', statements: [counter, { kind: 'masquerade' }] },
  {
    chain: 'f',
    statements: [
      match(meta('iif'), str('lo')),
      counter,
      { kind: 'reject', with: { type: 'icmp', code: 'port-unreachable' } },
    ],
  },
  {
    chain: 'f',
    statements: [
      match(meta('oif'), str('lo')),
      match({ kind: 'ct', key: 'state' }, { kind: 'flags', names: ['related', 'established'] }),
      counter,
      verdict('accept'),
    ],
  },
  {
    chain: 'f',
    statements: [
      { kind: 'log', prefix: 'x: ', level: 'info' },
      { kind: 'limit', rate: 5, per: 'second', burst: 10 },
      verdict('drop'),
    ],
  },
];

const SETUP = `add table bridge t
add set bridge t s1 { typeof iifname . ether saddr; }
add set bridge t r { typeof oifname . @nh,64,48; }
add set bridge t a { typeof iifname . arp saddr ip; }
add map bridge t m { type ifname : mark; }
add map bridge t v { type ifname : verdict; }
add chain bridge t c
add chain bridge t x
add table inet t
add set inet t d { typeof meta mark . ip saddr; size 65535; flags dynamic; }
add chain inet t x
add chain inet t y
add chain bridge t n
add chain inet t n
add table ip t
add chain ip t post { type nat hook postrouting priority 100; policy accept; }
add chain ip t f { type filter hook forward priority 0; policy accept; }
`;

describe('typed nft rules', () => {
  it('renders every rule as its nft text', () => {
    for (const r of [...BRIDGE_RULES, ...INET_RULES]) assert.equal(ruleText(r.statements, ''), r.text);
    assert.equal(ruleText([counter, verdict('drop')], 'f prio=5'), 'counter drop comment "f prio=5"');
  });

  it('renders statements as nft JSON', () => {
    assert.deepEqual(statementJson(match(concat([meta('iifname'), etherSaddr]), setref('s1'), true)), {
      match: {
        op: '!=',
        left: { concat: [{ meta: { key: 'iifname' } }, { payload: { protocol: 'ether', field: 'saddr' } }] },
        right: '@s1',
      },
    });
    assert.deepEqual(statementJson(match({ kind: 'ct', key: 'state' }, { kind: 'flags', names: ['new'] })), {
      match: { op: 'in', left: { ct: { key: 'state' } }, right: ['new'] },
    });
    assert.deepEqual(statementJson({ kind: 'snat', family: 'ip', addr: ip('10.0.0.1'), ports: [1024, 65535] }), {
      snat: { addr: '10.0.0.1', family: 'ip', port: { range: [1024, 65535] } },
    });
    assert.deepEqual(statementJson({ kind: 'masquerade' }), { masquerade: null });
    assert.deepEqual(statementJson({ kind: 'reject' }), { reject: null });
  });

  it('renders set elements as text and JSON', () => {
    const e = { key: { kind: 'concat', parts: [str('vnet0'), mac('52:54:00:00:00:0a')] } as Value };
    assert.equal(elementText(e), '"vnet0" . 52:54:00:00:00:0a');
    assert.deepEqual(elementJson(e), { concat: ['vnet0', '52:54:00:00:00:0a'] });
    const m = { key: num(0x76760001, 8), value: { kind: 'verdict', verdict: jump('s1_fwd') } as Value };
    assert.equal(elementText(m), '0x76760001 : jump s1_fwd');
    assert.deepEqual(elementJson(m), [0x76760001, { jump: { target: 's1_fwd' } }]);
  });

  it('refuses a string nft cannot quote', () => {
    assert.throws(() => ruleText([match(meta('iifname'), str('a"b'))], ''), /cannot quote/);
    assert.throws(() => ruleText([counter], 'x\ny'), /cannot quote/);
  });

  it('nft lists our text rules as our JSON, and loads our JSON as the same rules', {
    skip: canUseNetns() ? false : 'needs root and network namespaces',
  }, (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const ns = lab.netns('expr');
    const rules = (family: string, chain: string): Json[] => {
      const listed = JSON.parse(lab.exec(ns, ['nft', '-j', 'list', 'chain', family, 't', chain]).stdout) as {
        nftables: Json[];
      };
      return listed.nftables.flatMap((i) =>
        (i as { rule?: { expr: Json } }).rule ? [(i as { rule: { expr: Json } }).rule.expr] : [],
      );
    };
    const add = (family: string, chain: string, list: typeof BRIDGE_RULES) =>
      list.map((r) => `add rule ${family} t ${chain} ${r.text}\n`).join('');
    const normalised = NORMALISED.map((r) => `add rule ${r.family} t n ${ruleText(r.statements, '')}\n`).join('');
    const nat = NAT_RULES.map((r) => `add rule ip t ${r.chain} ${ruleText(r.statements, '')}\n`).join('');
    lab.exec(
      ns,
      ['nft', '-f', '-'],
      true,
      SETUP + add('bridge', 'c', BRIDGE_RULES) + add('inet', 'x', INET_RULES) + normalised + nat,
    );
    const expected = (list: typeof BRIDGE_RULES) => list.map((r) => r.statements.map(statementJson));
    assert.deepEqual(rules('bridge', 'c'), expected(BRIDGE_RULES));
    assert.deepEqual(rules('inet', 'x'), expected(INET_RULES));
    for (const family of ['bridge', 'inet'] as const) {
      assert.deepEqual(
        rules(family, 'n'),
        NORMALISED.filter((r) => r.family === family).map((r) => kernelBody(r.statements)),
        `${family}: kernel-body.ts`,
      );
    }
    for (const chain of ['post', 'f'] as const) {
      assert.deepEqual(
        rules('ip', chain),
        NAT_RULES.filter((r) => r.chain === chain).map((r) => kernelBody(r.statements)),
        `ip ${chain}`,
      );
    }
    // the same rules through nft's JSON input
    const json = {
      nftables: [
        ...expected(BRIDGE_RULES).map((expr) => ({
          add: { rule: { family: 'bridge', table: 't', chain: 'x', expr } },
        })),
        ...expected(INET_RULES).map((expr) => ({ add: { rule: { family: 'inet', table: 't', chain: 'y', expr } } })),
      ],
    };
    // nft 1.0.6 reads JSON only from a file it can open (not a pipe)
    const dir = mkdtempSync(join(tmpdir(), 'vw-expr-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'rules.json'), JSON.stringify(json));
    lab.exec(ns, ['nft', '-j', '-f', join(dir, 'rules.json')]);
    assert.deepEqual(rules('bridge', 'x'), expected(BRIDGE_RULES));
    assert.deepEqual(rules('inet', 'y'), expected(INET_RULES));
  });
});

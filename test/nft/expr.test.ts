// Typed nft rules (src/nft/expr.ts): the text and JSON renderers by value, and, where the kernel is
// at hand, that nft reads our text as the rule our JSON describes (the kernel lists it so) and
// accepts our JSON itself (loading it gives the same listing as the text).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  concat, counter, elementJson, elementText, jump, match, meta, num, payload, raw, ruleText, setref, statementJson, str, sym, verdict,
  type Statement, type Value,
} from '../../src/nft/expr.js';
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
  { text: 'ip6 saddr != fe80::/10 drop', statements: [match(payload('ip6', 'saddr'), { kind: 'prefix', addr: ip6('fe80::'), len: 10 }, true), verdict('drop')] },
  { text: 'ip daddr 10.0.0.1-10.0.0.9 drop', statements: [match(payload('ip', 'daddr'), { kind: 'range', from: ip('10.0.0.1'), to: ip('10.0.0.9') }), verdict('drop')] },
  { text: 'meta mark set iifname map @m', statements: [{ kind: 'mangle', key: meta('mark'), value: { kind: 'lookup', key: meta('iifname'), map: 'm' } }] },
  { text: 'iifname vmap @v', statements: [{ kind: 'vmap', key: meta('iifname'), map: 'v' }] },
  { text: 'counter jump c', statements: [counter, jump('c')] },
];

const INET_RULES: { text: string; statements: Statement[] }[] = [
  {
    text: 'add @d { meta mark . ip saddr ct count over 5 } counter drop',
    statements: [{ kind: 'set add', set: 'd', elem: concat([meta('mark'), payload('ip', 'saddr')]), stmts: [{ kind: 'ct count', count: 5, over: true }] }, counter, verdict('drop')],
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

const SETUP = `add table bridge t
add set bridge t s1 { typeof iifname . ether saddr; }
add set bridge t r { typeof oifname . @nh,64,48; }
add map bridge t m { type ifname : mark; }
add map bridge t v { type ifname : verdict; }
add chain bridge t c
add chain bridge t x
add table inet t
add set inet t d { typeof meta mark . ip saddr; size 65535; flags dynamic; }
add chain inet t x
add chain inet t y
`;

describe('typed nft rules', () => {
  it('renders every rule as its nft text', () => {
    for (const r of [...BRIDGE_RULES, ...INET_RULES]) assert.equal(ruleText(r.statements, ''), r.text);
    assert.equal(ruleText([counter, verdict('drop')], 'f prio=5'), 'counter drop comment "f prio=5"');
  });

  it('renders statements as nft JSON', () => {
    assert.deepEqual(statementJson(match(concat([meta('iifname'), etherSaddr]), setref('s1'), true)), {
      match: { op: '!=', left: { concat: [{ meta: { key: 'iifname' } }, { payload: { protocol: 'ether', field: 'saddr' } }] }, right: '@s1' },
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

  it('nft lists our text rules as our JSON, and loads our JSON as the same rules', { skip: canUseNetns() ? false : 'needs root and network namespaces' }, (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const ns = lab.netns('expr');
    const rules = (family: string, chain: string): Json[] => {
      const listed = JSON.parse(lab.exec(ns, ['nft', '-j', 'list', 'chain', family, 't', chain]).stdout) as { nftables: Json[] };
      return listed.nftables.flatMap((i) => ((i as { rule?: { expr: Json } }).rule ? [(i as { rule: { expr: Json } }).rule.expr] : []));
    };
    const add = (family: string, chain: string, list: typeof BRIDGE_RULES) => list.map((r) => `add rule ${family} t ${chain} ${r.text}\n`).join('');
    lab.exec(ns, ['nft', '-f', '-'], true, SETUP + add('bridge', 'c', BRIDGE_RULES) + add('inet', 'x', INET_RULES));
    const expected = (list: typeof BRIDGE_RULES) => list.map((r) => r.statements.map(statementJson));
    assert.deepEqual(rules('bridge', 'c'), expected(BRIDGE_RULES));
    assert.deepEqual(rules('inet', 'x'), expected(INET_RULES));
    // the same rules through nft's JSON input
    const json = {
      nftables: [
        ...expected(BRIDGE_RULES).map((expr) => ({ add: { rule: { family: 'bridge', table: 't', chain: 'x', expr } } })),
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

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import type { ResolvedAttr, ResolvedRule } from '../../src/nwfilter/instantiate.js';
import { MapFilterSource } from '../../src/nwfilter/source.js';
import { dropAllPolicy, LEARNING_FILTER, learningPolicy } from '../../src/learning/policy.js';
import { portFilterFor } from '../../src/learning/port-filter.js';

const MAC = '52:54:00:00:00:0a';

const literal = (v: ResolvedAttr['value']) =>
  'text' in v ? v.text : v.kind === 'number' ? String(v.value) : JSON.stringify(v);

/** action direction protocol attr=value... of every resolved rule, in order. */
function rules(instances: ReturnType<typeof learningPolicy>['instances']): string[] {
  const text = (r: ResolvedRule) =>
    Object.entries(r.attrs)
      .map(([k, a]) => `${k}=${a!.negated ? '!' : ''}${literal(a!.value)}`)
      .join(' ');
  return instances.flatMap((i) =>
    i.expansions.map((r) => `${r.action} ${r.direction} ${r.protocol ?? '-'} ${text(r)}`.trim()),
  );
}

describe('learning policy', () => {
  it('any: only the guest MAC, and only IPv4 and ARP from the guest (IPv6 too when learning it)', () => {
    const v4 = rules(
      learningPolicy({ portdev: 'vnet0', mac: MAC, mode: 'any', ipv6: false, params: new Map() }).instances,
    );
    assert.equal(v4.length, 4);
    assert.match(v4[0]!, new RegExp(`^drop out mac srcmacaddr=!${MAC}`));
    assert.ok(v4.slice(1, 3).every((r) => r.startsWith('accept out mac protocolid=')));
    assert.equal(v4[3], 'drop out -');
    assert.ok(!v4.some((r) => r.startsWith('accept in')), 'nothing towards the guest is restricted or needed');
    const v6 = rules(
      learningPolicy({ portdev: 'vnet0', mac: MAC, mode: 'any', ipv6: true, params: new Map() }).instances,
    );
    assert.equal(v6.length, 5);
  });

  it('dhcp: DHCP only, answers from each DHCPSERVER to the guest MAC and to broadcast', () => {
    const p = learningPolicy({
      portdev: 'vnet0',
      mac: MAC,
      mode: 'dhcp',
      ipv6: false,
      params: new Map([['DHCPSERVER', ['10.0.0.1', '10.0.0.2']]]),
    });
    assert.equal(p.filter, LEARNING_FILTER);
    const r = rules(p.instances);
    const answers = r.filter((x) => x.startsWith('accept in'));
    assert.equal(answers.length, 4);
    for (const server of ['10.0.0.1', '10.0.0.2'])
      for (const dst of [MAC, 'ff:ff:ff:ff:ff:ff'])
        assert.ok(answers.some((a) => a.includes(`dstmacaddr=${dst}`) && a.includes(`srcipaddr=${server}`)));
    assert.deepEqual(
      r.filter((x) => x.startsWith('drop')),
      ['drop out -', 'drop in -'],
    );
    const open = rules(
      learningPolicy({ portdev: 'vnet0', mac: MAC, mode: 'dhcp', ipv6: false, params: new Map() }).instances,
    );
    assert.ok(open.filter((x) => x.startsWith('accept in')).every((a) => !a.includes('srcipaddr')));
  });

  it('drop-all: nothing in or out', () => {
    assert.deepEqual(rules(dropAllPolicy('vnet0', MAC).instances), ['drop out -', 'drop in -']);
  });

  it('dhcp with IPv6: DHCPv6 from DHCPSERVERV6 and neighbour discovery', () => {
    const r = rules(
      learningPolicy({
        portdev: 'vnet0',
        mac: MAC,
        mode: 'dhcp',
        ipv6: true,
        params: new Map([['DHCPSERVERV6', ['fe80::1']]]),
      }).instances,
    );
    assert.ok(
      r.some(
        (x) => x.startsWith('accept in ipv6') && x.includes('srcipaddr=fe80::1') && x.includes('dstportstart=546'),
      ),
    );
    assert.ok(r.some((x) => x.startsWith('accept out ipv6') && x.includes('dstportstart=547')));
    assert.ok(r.some((x) => x.startsWith('accept out ipv6') && x.includes('protocol=58 type=135 typeend=136')));
    assert.ok(r.some((x) => x.startsWith('accept in ipv6') && x.includes('protocol=58 type=134 typeend=136')));
  });
});

const FILTERS = new MapFilterSource(
  [
    `<filter name='spoof' chain='ipv4'><rule action='drop' direction='out'><ip match='no' srcipaddr='$IP'/></rule></filter>`,
    `<filter name='spoof6' chain='ipv6'><rule action='drop' direction='out'><ipv6 match='no' srcipaddr='$IPV6'/></rule></filter>`,
    `<filter name='both'><filterref filter='spoof'/><filterref filter='spoof6'/></filter>`,
    `<filter name='other' chain='ipv4'><rule action='drop' direction='out'><ip srcipaddr='$NOPE'/></rule></filter>`,
    `<filter name='second' chain='ipv4'><rule action='drop' direction='out'><ip srcipaddr='$IP[1]'/></rule></filter>`,
  ].map((x) => parseFilter(x)),
);
const binding = (filter: string, params: [string, string[]][] = []) => ({
  portdev: 'vnet0',
  mac: MAC,
  filter,
  params: new Map(params),
});
const none = { ipv4: [], ipv6: [] };

describe('port filter', () => {
  it('learns while $IP has no value (any by default), then instantiates with every learned address', () => {
    const learning = portFilterFor(binding('spoof'), FILTERS, none);
    assert.deepEqual(learning.learning, { mode: 'any', ipv4: true, ipv6: false });
    assert.equal(learning.filter.filter, LEARNING_FILTER);
    const done = portFilterFor(binding('spoof', [['CTRL_IP_LEARNING', ['dhcp']]]), FILTERS, {
      ipv4: ['10.0.0.5', '10.0.0.6'],
      ipv6: [],
    });
    assert.equal(done.learning, undefined);
    assert.deepEqual(
      rules(done.filter.instances).map((r) => r.split('srcipaddr=')[1]),
      ['!10.0.0.5', '!10.0.0.6'],
    );
  });

  it('waits for every learnable family the filter references', () => {
    assert.deepEqual(
      portFilterFor(binding('both', [['CTRL_IP_LEARNING', ['dhcp']]]), FILTERS, { ipv4: ['10.0.0.5'], ipv6: [] })
        .learning,
      { mode: 'dhcp', ipv4: false, ipv6: true },
    );
    assert.equal(
      portFilterFor(binding('both'), FILTERS, { ipv4: ['10.0.0.5'], ipv6: ['2001:db8::5'] }).learning,
      undefined,
    );
  });

  it('none: an unset $IP is an error at bind time; unknown variables always are', () => {
    assert.throws(
      () => portFilterFor(binding('spoof', [['CTRL_IP_LEARNING', ['none']]]), FILTERS, none),
      /unresolvable variables.*IP/,
    );
    assert.throws(() => portFilterFor(binding('other'), FILTERS, none), /NOPE/);
    assert.throws(
      () => portFilterFor(binding('spoof', [['CTRL_IP_LEARNING', ['sometimes']]]), FILTERS, none),
      /learning value 'sometimes' invalid/,
    );
  });

  it('gives every plan a digest of its inputs, and defers instantiating a port whose variables are all set', () => {
    const source = (digest: string) => ({ lookup: (n: string) => FILTERS.lookup(n), digest });
    const five = { ipv4: ['10.0.0.5'], ipv6: [] };
    const digestOf = (b: ReturnType<typeof binding>, digest = 'd1', learned = five) =>
      portFilterFor(b, source(digest), learned).filter.inputsDigest;
    assert.equal(
      portFilterFor(binding('spoof'), FILTERS, five).filter.inputsDigest,
      undefined,
      'a source without digest gives no digest',
    );
    assert.equal(digestOf(binding('spoof')), digestOf(binding('spoof')));
    const digests = [
      digestOf(binding('spoof')),
      digestOf(binding('spoof'), 'd2'),
      digestOf(binding('spoof'), 'd1', { ipv4: ['10.0.0.6'], ipv6: [] }),
      digestOf(binding('spoof', [['IP', ['10.0.0.5']]])),
      digestOf(binding('spoof'), 'd1', none),
    ];
    assert.equal(
      new Set(digests).size,
      digests.length,
      'filters, learned addresses, parameters: each changes the digest',
    );
    assert.ok(
      digests.every((k) => typeof k === 'string'),
      'the learning plan has a digest too',
    );

    // every variable set: nothing is instantiated (nor its errors thrown) until the backend asks
    const bad = portFilterFor(binding('spoof', [['IP', ['10.0.0.300']]]), source('d1'), none);
    assert.equal(bad.learning, undefined);
    assert.throws(() => bad.filter.instances, /10\.0\.0\.300/);
    const good = portFilterFor(binding('spoof'), source('d1'), five).filter;
    assert.deepEqual(rules(good.instances), rules(portFilterFor(binding('spoof'), FILTERS, five).filter.instances));
    assert.equal(good.instances, good.instances, 'instantiated once');
  });

  it('one source answers many bindings: what each misses follows its own variables and their lengths', () => {
    // a source with a digest keeps what a filter misses for a shape of variables (a start asks it 1000 times)
    const source = { lookup: (n: string) => FILTERS.lookup(n), digest: 'd1' };
    const five = { ipv4: ['10.0.0.5'], ipv6: [] };
    const learning = (filter: string, learned: { ipv4: string[]; ipv6: string[] }, params: [string, string[]][] = []) =>
      portFilterFor(binding(filter, params), source, learned).learning;
    assert.deepEqual(learning('both', five), { mode: 'any', ipv4: false, ipv6: true });
    assert.equal(learning('both', { ipv4: ['10.0.0.5'], ipv6: ['2001:db8::5'] }), undefined);
    assert.deepEqual(learning('both', none), { mode: 'any', ipv4: true, ipv6: true });
    assert.deepEqual(learning('both', five), { mode: 'any', ipv4: false, ipv6: true });
    // $IP[1]: the same names, and one value too few
    const two = binding('second', [['IP', ['10.0.0.5', '10.0.0.6']]]);
    assert.deepEqual(rules(portFilterFor(two, source, none).filter.instances), ['drop out ip srcipaddr=10.0.0.6']);
    assert.throws(
      () => portFilterFor(binding('second', [['IP', ['10.0.0.5']]]), source, none),
      /unresolvable variables.*IP\[1\]/,
    );
    // another source: its own answers
    const other = {
      lookup: (n: string) => (n === 'second' ? FILTERS.lookup('spoof') : FILTERS.lookup(n)),
      digest: 'd2',
    };
    assert.equal(portFilterFor(binding('second', [['IP', ['10.0.0.5']]]), other, none).learning, undefined);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyNewRules, instantiationPlans } from '../../src/backends/ebiptables/plan.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import { VirtwallError } from '../../src/errors.js';
import { applyPlans } from '../../src/exec/apply.js';
import { FakeRunner } from '../../src/exec/fake.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { instantiate, type RuleInstance } from '../../src/nwfilter/instantiate.js';
import { orderRules } from '../../src/nwfilter/order.js';
import { MapFilterSource } from '../../src/nwfilter/source.js';
import { renderCommandLine } from '../../src/plan/command.js';
import { dryRunCommands } from '../../src/plan/transaction.js';

const filter = (name: string, body: string, attrs = '') =>
  parseFilter(`<filter name='${name}'${attrs}>${body}</filter>`);
const rule = (port: number | string, more = '', ruleAttrs = '') =>
  `<rule action='accept' direction='out'${ruleAttrs}><tcp dstportstart='${port}'${more}/></rule>`;
const vars = (entries: Record<string, string[]>) => new Map(Object.entries(entries));

/** Each instance's destination ports (one per expansion), in order. */
function ports(instances: RuleInstance[]): string[] {
  return instances.flatMap((i) =>
    i.expansions.map((e) => {
      const v = e.attrs['dstportstart']!.value;
      return v.kind === 'text' ? v.text : v.kind === 'number' ? String(v.value) : '?';
    }),
  );
}

function rejects(fn: () => unknown, kind: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof VirtwallError, String(err));
    assert.equal(err.kind, kind);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('filter instantiation', () => {
  it('inlines referenced filters depth first, in document order', () => {
    const source = new MapFilterSource([
      filter('child', `${rule(21)}<filterref filter='grandchild'/>${rule(22)}`),
      filter('grandchild', rule(31)),
    ]);
    const root = filter('root', `${rule(11)}<filterref filter='child'/>${rule(12)}<filterref filter='grandchild'/>`);
    const out = instantiate(root, new Map(), source);
    assert.deepEqual(ports(out), ['11', '21', '31', '22', '12', '31']);
    assert.deepEqual(out[2]!.path, ['root', 'child', 'grandchild']);
  });

  it('uses filterref parameters as defaults under the inherited variables, like libvirt', () => {
    const source = new MapFilterSource([filter('child', `${rule('$X')}${rule('$Y')}`)]);
    const root = filter(
      'root',
      `<filterref filter='child'><parameter name='X' value='2'/><parameter name='Y' value='3'/></filterref>`,
    );
    assert.deepEqual(ports(instantiate(root, vars({ X: ['1'] }), source)), ['1', '3']);
  });

  it('reports reference loops with the path', () => {
    const source = new MapFilterSource([
      filter('a', `<filterref filter='b'/>`),
      filter('b', `<filterref filter='a'/>`),
      filter('self', `<filterref filter='self'/>`),
    ]);
    rejects(() => instantiate(source.lookup('a')!, new Map(), source), 'invalid-input', /loop: a -> b -> a/);
    rejects(() => instantiate(source.lookup('self')!, new Map(), source), 'invalid-input', /loop: self -> self/);
  });

  it('reports a missing filter with the path that references it', () => {
    const source = new MapFilterSource([
      filter('a', `<filterref filter='b'/>`),
      filter('b', `<filterref filter='nowhere'/>`),
    ]);
    rejects(() => instantiate(source.lookup('a')!, new Map(), source), 'not-found', /'nowhere'.*a -> b -> nowhere/);
  });

  it('lists every unresolvable variable or unavailable list element at once', () => {
    const root = filter('root', `${rule('$P')}${rule('$A[2]')}${rule('$A[1]')}`);
    rejects(
      () => instantiate(root, vars({ A: ['1', '2'] }), new MapFilterSource([])),
      'invalid-input',
      /unresolvable.*: P \(in root\), A\[2\] \(in root\)$/,
    );
  });

  it('offers missing variables to the resolver hook (the IP learning seam)', () => {
    const root = filter('root', `<rule action='accept' direction='out'><ip srcipaddr='$IP'/></rule>`);
    const asked: string[][] = [];
    const out = instantiate(root, new Map(), new MapFilterSource([]), {
      resolveMissing: (missing) => {
        asked.push([...missing]);
        return new Map([['IP', ['10.0.0.7']]]);
      },
    });
    assert.deepEqual(asked, [['IP']]);
    assert.deepEqual(out[0]!.expansions[0]!.attrs['srcipaddr']!.value, {
      kind: 'text',
      text: '10.0.0.7',
      variable: 'IP',
    });
  });

  it('rejects lists of different lengths iterated together', () => {
    const root = filter('root', `<rule action='accept' direction='out'><tcp srcipaddr='$A' dstportstart='$P'/></rule>`);
    rejects(
      () => instantiate(root, vars({ A: ['1.1.1.1', '2.2.2.2'], P: ['1', '2', '3'] }), new MapFilterSource([])),
      'invalid-input',
      /same length.*'A'.*'P'|same length.*'P'.*'A'/,
    );
  });

  it('iterates lists in parallel under one iterator and crosses different iterators', () => {
    const root = filter(
      'root',
      `<rule action='accept' direction='out'><tcp srcipaddr='$A' dstportstart='$P'/></rule>` +
        `<rule action='accept' direction='out'><tcp srcipaddr='$A[@1]' dstportstart='$P[@2]'/></rule>`,
    );
    const out = instantiate(root, vars({ A: ['1.1.1.1', '2.2.2.2'], P: ['7', '8'] }), new MapFilterSource([]));
    const pairs = out.map((i) =>
      i.expansions.map(
        (e) =>
          `${(e.attrs['srcipaddr']!.value as { text: string }).text}:${(e.attrs['dstportstart']!.value as { text: string }).text}`,
      ),
    );
    assert.deepEqual(pairs, [
      ['1.1.1.1:7', '2.2.2.2:8'],
      ['1.1.1.1:7', '2.2.2.2:7', '1.1.1.1:8', '2.2.2.2:8'],
    ]);
  });

  it('rejects a variable value that does not fit the attribute it is used for', () => {
    const root = filter('root', `<rule action='accept' direction='out'><tcp srcipaddr='$A'/></rule>`);
    rejects(
      () => instantiate(root, vars({ A: ['10.0.0.1', 'not_an_ip'] }), new MapFilterSource([])),
      'invalid-input',
      /\$A = 'not_an_ip'.*srcipaddr/,
    );
    const port = filter('root', rule('$P'));
    rejects(() => instantiate(port, vars({ P: ['70000'] }), new MapFilterSource([])), 'invalid-input', /dstportstart/);
  });

  it('checks a value once per kind of attribute: one that fits an IP attribute is still refused as a MAC', () => {
    // checkVarValue's answers are kept by the attribute's data types and rule: keyed by the text
    // alone, the first answer (fits srcipaddr) would stand for srcmacaddr too
    const root = filter(
      'root',
      `<rule action='accept' direction='out'><ip srcipaddr='$A'/></rule>
       <rule action='accept' direction='out'><arp arpsrcipaddr='$A'/></rule>
       <rule action='accept' direction='out'><mac srcmacaddr='$A'/></rule>`,
    );
    rejects(
      () => instantiate(root, vars({ A: ['10.0.0.1'] }), new MapFilterSource([])),
      'invalid-input',
      /\$A = '10\.0\.0\.1'.*srcmacaddr/,
    );
    const macs = filter(
      'root',
      `<rule action='accept' direction='out'><mac srcmacaddr='$M'/></rule>
       <rule action='accept' direction='out'><arp arpsrcmacaddr='$M'/></rule>`,
    );
    assert.equal(instantiate(macs, vars({ M: ['52:54:00:00:00:01'] }), new MapFilterSource([])).length, 2);
  });

  it('fails bad input before any command runs', async () => {
    const source = new MapFilterSource([
      filter('a', `<filterref filter='b'/>`),
      filter('b', `<filterref filter='a'/>`),
    ]);
    const runner = new FakeRunner();
    await assert.rejects(
      async () =>
        applyPlans(
          instantiationPlans(
            'vnet0',
            instantiateBinding({ portdev: 'vnet0', mac: '52:54:00:00:00:01', filter: 'a', params: new Map() }, source),
          ),
          runner,
        ),
      /loop/,
    );
    assert.deepEqual(runner.calls, []);
  });
});

describe('rule order', () => {
  it('puts root-chain rules first, then orders by priority keeping document order among equals', () => {
    const source = new MapFilterSource([filter('arpf', `${rule(3, '', " priority='-900'")}`, " chain='arp'")]);
    const root = filter(
      'root',
      `${rule(1, '', " priority='700'")}${rule(2)}<filterref filter='arpf'/>${rule(4)}${rule(5, '', " priority='-10'")}`,
    );
    const ordered = orderRules(instantiate(root, new Map(), source));
    assert.deepEqual(
      ordered.map((o) => ports([o.instance])[0]),
      ['5', '2', '4', '1', '3'],
    );
    // A non-root rule below its chain's priority is handled at the chain's priority.
    assert.deepEqual(
      ordered.map((o) => o.effectivePriority),
      [-10, 500, 500, 700, -500],
    );
  });

  it('creates an ebtables sub-chain before the first rule at or above its priority', () => {
    const source = new MapFilterSource([
      filter(
        'macf',
        `<rule action='drop' direction='out' priority='-850'><mac srcmacaddr='52:54:00:00:00:01'/></rule>`,
        " chain='mac'",
      ),
      filter('arpf', `<rule action='accept' direction='out' priority='100'><arp/></rule>`, " chain='arp'"),
    ]);
    const root = filter('root', `<filterref filter='arpf'/><filterref filter='macf'/>`);
    const lines = dryRunCommands(applyNewRules('vnet0', instantiate(root, new Map(), source))).map((c) =>
      renderCommandLine(c.argv),
    );
    const at = (text: string) => lines.findIndex((l) => l.includes(text));
    assert.ok(
      at('-N J-vnet0-mac') < at('-A J-vnet0-mac') && at('-A J-vnet0-mac') < at('-N J-vnet0-arp'),
      lines.join('\n'),
    );
    assert.ok(at('-N J-vnet0-arp') < at('-A J-vnet0-arp'));
    assert.ok(at('-A libvirt-J-vnet0 -j J-vnet0-mac') < at('-A libvirt-J-vnet0 -p 0x0806 -j J-vnet0-arp'));
  });
});

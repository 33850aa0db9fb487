import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DiagnosticList, VirtwallError } from '../../src/errors.js';
import { formatFilter, parseFilter, type FilterParseOptions, type RuleDef } from '../../src/conf/nwfilter/index.js';

const filter = (body: string, head = "<filter name='f' chain='root'>") =>
  `${head}\n  <uuid>01a992d2-f8c8-7c27-f69b-ab0a9d377379</uuid>\n${body}\n</filter>\n`;

const roundTrip = (text: string, options?: FilterParseOptions) =>
  formatFilter(parseFilter(text, 'f.xml', undefined, options));

/** The single protocol element line the formatter prints for one rule. */
const ruleBody = (element: string): string[] =>
  roundTrip(filter(`<rule action='accept' direction='in'>${element}</rule>`))
    .split('\n')
    .filter((l) => l.startsWith('    <'));

const firstRule = (text: string): RuleDef => parseFilter(text).entries[0] as RuleDef;

function invalidAt(text: string, expect: { line: number; element: string; attribute?: string; message: RegExp }) {
  assert.throws(
    () => parseFilter(text, 'f.xml'),
    (err: unknown) => {
      assert.ok(err instanceof VirtwallError);
      assert.equal(err.kind, 'invalid-input');
      assert.equal(err.location.file, 'f.xml');
      assert.equal(err.location.line, expect.line);
      assert.ok(err.location.col !== undefined && err.location.col > 0);
      assert.equal(err.location.element, expect.element);
      assert.equal(err.location.attribute, expect.attribute);
      assert.match(err.message, expect.message);
      return true;
    },
  );
}

describe('nwfilter illegal attribute values', () => {
  const text = filter(
    [
      "<rule action='accept' direction='out'>",
      "  <tcp srcipaddr='10.1.2.3' srcipmask='33' dscp='64' dstportstart='80'/>",
      '</rule>',
      "<rule action='accept' direction='in'>",
      "  <mac protocolid='15' srcmacaddr='1:2:3:4:5:6'/>",
      '</rule>',
    ].join('\n'),
  );

  it('are rejected by default, naming file, line, element and attribute', () => {
    invalidAt(text, {
      line: 4,
      element: 'tcp',
      attribute: 'srcipmask',
      message: /f\.xml:4:\d+ <tcp> attribute 'srcipmask': srcipmask has illegal value '33'/,
    });
  });

  it('are dropped with one warning each in drop mode, keeping the valid attributes', () => {
    const diag = new DiagnosticList();
    const def = parseFilter(text, 'f.xml', diag, { invalidValues: 'drop' });
    assert.deepEqual(
      diag.warnings.map((w) => [w.location.line, w.location.element, w.location.attribute]),
      [
        [4, 'tcp', 'srcipmask'],
        [4, 'tcp', 'dscp'],
        [7, 'mac', 'protocolid'],
      ],
    );
    assert.deepEqual(Object.keys((def.entries[0] as RuleDef).attrs).sort(), ['dstportstart', 'srcipaddr']);
    assert.deepEqual(Object.keys((def.entries[1] as RuleDef).attrs), ['srcmacaddr']);
  });

  it('include values a value rule refuses after the data type accepted them', () => {
    for (const [element, attribute] of [
      ["<vlan vlanid='4096'/>", 'vlanid'],
      ["<vlan encap-protocol='59'/>", 'encap-protocol'],
      ["<ip protocol='foo'/>", 'protocol'],
      ["<tcp state='NEW,BOGUS'/>", 'state'],
      ["<tcp flags='SYN'/>", 'flags'],
      ["<all ipset='has/slash'/>", 'ipset'],
      ["<all ipsetflags='src,dst,src,dst,src,dst,src'/>", 'ipsetflags'],
      ["<mac srcmacmask='ff:00:ff:00:00:00'/>", 'srcmacmask'],
      ["<ip srcipmask='255.0.255.0'/>", 'srcipmask'],
      ["<tcp srcipaddr='$A[@1001]'/>", 'srcipaddr'],
    ]) {
      invalidAt(filter(`<rule action='accept' direction='in'>\n${element}</rule>`), {
        line: 4,
        element: element.slice(1).split(' ')[0]!,
        attribute,
        message: /illegal value/,
      });
    }
  });
});

describe('nwfilter structural errors', () => {
  it('name the element and attribute at fault', () => {
    invalidAt("<filter chain='root'/>", {
      line: 1,
      element: 'filter',
      attribute: 'name',
      message: /filter has no name/,
    });
    invalidAt("<filter name='f' chain='bogus'/>", {
      line: 1,
      element: 'filter',
      attribute: 'chain',
      message: /invalid chain name 'bogus'/,
    });
    invalidAt("<filter name='f' chain='rootx'/>", {
      line: 1,
      element: 'filter',
      attribute: 'chain',
      message: /invalid chain name/,
    });
    invalidAt("<filter name='f' chain='ipv4-much-too-long'/>", {
      line: 1,
      element: 'filter',
      attribute: 'chain',
      message: /longer than 12/,
    });
    invalidAt("<filter name='f' chain='mac' priority='x'/>", {
      line: 1,
      element: 'filter',
      attribute: 'priority',
      message: /could not parse chain priority/,
    });
    invalidAt("<filter name='f' chain='mac' priority='1001'/>", {
      line: 1,
      element: 'filter',
      attribute: 'priority',
      message: /outside valid range/,
    });
    invalidAt("<network name='f'/>", { line: 1, element: 'network', message: /unknown root element/ });
    invalidAt("<filter name='f'>\n<uuid>not-a-uuid</uuid></filter>", {
      line: 2,
      element: 'uuid',
      message: /malformed uuid/,
    });
    invalidAt("<filter name='f'>\n<rule direction='in'/></filter>", {
      line: 2,
      element: 'rule',
      attribute: 'action',
      message: /requires action/,
    });
    invalidAt("<filter name='f'>\n<rule action='allow' direction='in'/></filter>", {
      line: 2,
      element: 'rule',
      attribute: 'action',
      message: /unknown rule action/,
    });
    invalidAt("<filter name='f'>\n<rule action='drop' direction='both'/></filter>", {
      line: 2,
      element: 'rule',
      attribute: 'direction',
      message: /unknown rule direction/,
    });
    invalidAt("<filter name='f'>\n<filterref/></filter>", {
      line: 2,
      element: 'filterref',
      attribute: 'filter',
      message: /filter attribute/,
    });
    invalidAt("<filter name='f'>\n<rule action='drop' direction='in'><ip dstportstart='80'/></rule></filter>", {
      line: 2,
      element: 'ip',
      message: /port specification requires protocol/,
    });
  });

  it('report malformed XML with its position', () => {
    assert.throws(
      () => parseFilter("<filter name='f'>\n<rule>", 'f.xml'),
      (err: unknown) => err instanceof VirtwallError && err.kind === 'invalid-input' && err.location.line === 2,
    );
  });
});

describe('nwfilter variables', () => {
  it('round-trip in every access form, printed as libvirt prints them', () => {
    assert.deepEqual(ruleBody("<tcp srcipaddr='$X' srcportstart='$P[2]' dstportstart='$Q[@1]' dscp='$D[ @0 ] '/>"), [
      "    <tcp srcipaddr='$X' dscp='$D' srcportstart='$P[2]' dstportstart='$Q[@1]'/>",
    ]);
  });

  it('are listed once each per rule, in libvirt registration order', () => {
    const rule = firstRule(
      filter(
        "<rule action='accept' direction='in'><udp dstipaddr='$B' srcipaddr='$A' srcportstart='$A[@2]'/><udp dstipto='$B' dscp='$C[1]'/></rule>",
      ),
    );
    assert.deepEqual(rule.variables, [
      { kind: 'iterator', name: 'A', iterId: 0 },
      { kind: 'iterator', name: 'B', iterId: 0 },
      { kind: 'iterator', name: 'A', iterId: 2 },
      { kind: 'element', name: 'C', index: 1 },
    ]);
  });
});

describe('nwfilter value canonicalisation', () => {
  it('pads and lowercases MACs, turns masks into prefix lengths and compresses IPv6', () => {
    assert.deepEqual(
      ruleBody(
        "<ipv6 srcmacaddr='A:B:C:D:E:F' srcipaddr='FE80:0:0:0:0:0:0:1' srcipmask='ffff:ffff::' dstipaddr='::ffff:1.2.3.4' dstipmask='64'/>",
      ),
      [
        "    <ipv6 srcmacaddr='0a:0b:0c:0d:0e:0f' srcipaddr='fe80::1' srcipmask='32' dstipaddr='::ffff:1.2.3.4' dstipmask='64'/>",
      ],
    );
    assert.deepEqual(ruleBody("<udp srcipaddr='10.258' dstipaddr='0x0a.0.0.010' dstipmask='255.255.0.0'/>"), [
      "    <udp srcipaddr='10.0.1.2' dstipaddr='10.0.0.8' dstipmask='16'/>",
    ]);
  });

  it('keeps numbers hex or decimal as written and names well-known protocol numbers', () => {
    assert.deepEqual(ruleBody("<mac protocolid='0x86DD'/>"), ["    <mac protocolid='ipv6'/>"]);
    assert.deepEqual(ruleBody("<mac protocolid='0x1234'/>"), ["    <mac protocolid='0x1234'/>"]);
    assert.deepEqual(ruleBody("<mac protocolid='1537'/>"), ["    <mac protocolid='1537'/>"]);
    assert.deepEqual(ruleBody("<arp opcode='reply' hwtype='0X1F'/>"), ["    <arp hwtype='0x1f' opcode='Reply'/>"]);
    assert.deepEqual(ruleBody("<arp opcode='0x10'/>"), ["    <arp opcode='16'/>"]);
    assert.deepEqual(ruleBody("<ip protocol='0x11' dscp='3f'/>"), ["    <ip protocol='udp' dscp='0x3f'/>"]);
    assert.deepEqual(ruleBody("<ip protocol='200'/>"), ["    <ip protocol='200'/>"]);
    assert.deepEqual(ruleBody("<stp root-cost='-1'/>"), ["    <stp root-cost='4294967295'/>"]);
  });

  it('normalises keyword lists: state, tcp flags and ipset flags', () => {
    assert.deepEqual(ruleBody("<tcp state='related, new established' flags='ack,syn/ SYN'/>"), [
      "    <tcp state='NEW,ESTABLISHED,RELATED' flags='SYN,ACK/SYN'/>",
    ]);
    assert.deepEqual(ruleBody("<tcp state='NEW,NONE' flags='FIN,SYN,RST,PSH,ACK,URG/'/>"), [
      "    <tcp state='NONE' flags='ALL/NONE'/>",
    ]);
    assert.deepEqual(ruleBody("<all ipset='x' ipsetflags='SRC,dSt'/>"), ["    <all ipset='x' ipsetflags='src,dst'/>"]);
  });

  it('escapes comments and reads gratuitous as a boolean', () => {
    assert.deepEqual(ruleBody(`<arp gratuitous='yes' comment="a&lt;b 'c'"/>`), [
      "    <arp gratuitous='true' comment='a&lt;b &apos;c&apos;'/>",
    ]);
    assert.deepEqual(ruleBody("<arp gratuitous='on'/>"), ["    <arp gratuitous='false'/>"]);
  });
});

describe('nwfilter rule quirks kept from libvirt', () => {
  it('copies negation from addresses to masks and from srcportstart to the other ports', () => {
    assert.deepEqual(ruleBody("<tcp match='no' srcipaddr='1.2.3.4' dstportstart='22'/><tcp srcipmask='8'/>"), [
      "    <tcp dstportstart='22'/>",
      "    <tcp match='no' srcipaddr='1.2.3.4' srcipmask='8'/>",
    ]);
  });

  it('fills in ipsetflags for a lone ipset and drops ipset given with flags, except on all', () => {
    assert.deepEqual(ruleBody("<tcp ipset='s'/>"), ["    <tcp ipset='s' ipsetflags='src'/>"]);
    assert.deepEqual(ruleBody("<udp ipset='s' ipsetflags='dst'/>"), ['    <udp/>']);
    assert.deepEqual(ruleBody("<all ipsetflags='dst'/>"), ["    <all ipsetflags='dst'/>"]);
  });

  it('takes the protocol from the first protocol element and ignores other protocols', () => {
    const rule = firstRule(
      filter("<rule action='drop' direction='in'><foo/><udp dstportstart='53'/><tcp dstportstart='80'/></rule>"),
    );
    assert.equal(rule.protocol, 'udp');
    assert.deepEqual(rule.attrs.dstportstart?.value, { kind: 'number', value: 53, hex: false });
  });

  it('falls back to priority 500 for a rule priority it cannot use and prints statematch only when off', () => {
    const text = roundTrip(
      filter(
        "<rule action='drop' direction='in' priority='1001' statematch='FALSE'/>\n<rule action='drop' direction='in' priority='-1000' statematch='yes'/>",
      ),
    );
    assert.match(
      text,
      /<rule action='drop' direction='in' priority='500' statematch='false'\/>\n {2}<rule action='drop' direction='in' priority='-1000'\/>/,
    );
  });
});

describe('nwfilter filter attributes', () => {
  it('gives each chain kind its default priority, and none without a chain attribute', () => {
    const head = (attrs: string) => parseFilter(`<filter name='f' ${attrs}/>`);
    assert.deepEqual(
      ['mac', 'vlan', 'stp-x', 'arp-1', 'rarp', 'ipv4', 'ipv6x', 'root'].map((c) => [
        head(`chain='${c}'`).chainKind,
        head(`chain='${c}'`).priority,
      ]),
      [
        ['mac', -800],
        ['vlan', -750],
        ['stp', 0],
        ['arp', -500],
        ['rarp', -400],
        ['ipv4', -700],
        ['ipv6', -600],
        ['root', 0],
      ],
    );
    assert.equal(head("chain='mac' priority='-10'").priority, -10);
    assert.equal(head("priority='-10'").priority, 0);
    assert.match(formatFilter(head("chain='mac' priority='-10'")), /^<filter name='f' chain='mac' priority='-10'>\n/);
  });

  it('generates a UUID only when the document has none, and reads liberal UUID syntax', () => {
    const a = parseFilter("<filter name='f'/>");
    const b = parseFilter("<filter name='f'><uuid/></filter>");
    assert.equal(a.uuidSpecified, false);
    assert.match(a.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.notEqual(a.uuid, b.uuid);
    const c = parseFilter("<filter name='f'><uuid> 01A992D2 f8c87c27-f69b-ab0a-9d37 7379 </uuid></filter>");
    assert.equal(c.uuid, '01a992d2-f8c8-7c27-f69b-ab0a9d377379');
    assert.equal(c.uuidSpecified, true);
  });

  it('prints filterref parameters sorted by name, lists in document order, skipping malformed ones', () => {
    const text = roundTrip(
      filter(
        "<filterref filter='x'><parameter name='b' value='2'/><parameter name='a' value='1.2.3.4'/><parameter name='b' value='1'/><parameter name='c' value='a b'/><parameter value='3'/></filterref>",
      ),
    );
    assert.match(
      text,
      /<filterref filter='x'>\n {4}<parameter name='a' value='1.2.3.4'\/>\n {4}<parameter name='b' value='2'\/>\n {4}<parameter name='b' value='1'\/>\n {2}<\/filterref>/,
    );
  });
});

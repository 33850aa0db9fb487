// The one table of values that reach dnsmasq's files (src/conf/network/dnsmasq-fields.ts):
// every row refuses hostile values at define and at net-update, with the element, attribute
// and line:col of the value; and every string of a definition that shows up in a dnsmasq file
// is a row of the table, so a field rendered later without a row fails here.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VirtwallError } from '../../src/errors.js';
import { parseXml, type XmlElement } from '../../src/xml/dom.js';
import { scopeIn, type Scope } from '../../src/xml/namespaces.js';
import { parseNetwork } from '../../src/conf/network/parse.js';
import { formatNetwork } from '../../src/conf/network/format.js';
import { qualifiedName } from '../../src/conf/network/dnsmasq-namespace.js';
import {
  checkDnsmasqFields,
  DNSMASQ_FIELDS,
  RULES,
  type DnsmasqField,
  type DnsmasqFile,
} from '../../src/conf/network/dnsmasq-fields.js';
import { sectionPath, updateNetwork, UPDATE_SECTIONS } from '../../src/conf/network/update.js';
import { dnsmasqFiles, parseDnsmasqVersion } from '../../src/network/dnsmasq/config.js';

/** A network that sets every value virtwall can hand to dnsmasq (and many it does not). */
const FULL = `<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0' trustGuestRxFilters='no'>
  <name>net1</name>
  <uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>
  <title>title1</title>
  <description>description1</description>
  <forward mode='nat' dev='eth1'/>
  <bridge name='br1' stp='off' delay='0' zone='zone1'/>
  <mtu size='1400'/>
  <mac address='52:54:00:aa:bb:cc'/>
  <domain name='dom1' localOnly='yes' register='yes'/>
  <dns forwardPlainNames='no'>
    <forwarder domain='fwd1' addr='192.168.1.1'/>
    <forwarder domain='fwd2'/>
    <txt name='txt1' value='val1'/>
    <host ip='192.168.122.5'><hostname>hn1</hostname><hostname>hn2</hostname></host>
    <srv service='svc1' protocol='tcp' domain='sdom1' target='tgt1' port='1' priority='2' weight='3'/>
  </dns>
  <ip address='192.168.122.1' netmask='255.255.255.0' localPtr='yes'>
    <tftp root='/tftp1'/>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'><lease expiry='1' unit='hours'/></range>
      <host mac='00:16:3e:77:e2:ed' name='dh1' ip='192.168.122.10'/>
      <bootp file='boot1' server='192.168.122.1'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='2001:db8::1' prefix='64'>
    <dhcp>
      <range start='2001:db8::10' end='2001:db8::20'/>
      <host id='0:3:0:1:0:16:3e:11:22:33' name='dh6' ip='2001:db8::30'/>
    </dhcp>
  </ip>
  <route address='10.0.0.0' prefix='8' gateway='192.168.122.2'/>
  <portgroup name='pg1' default='yes'/>
  <dnsmasq:options><dnsmasq:option value='opt1=x'/></dnsmasq:options>
</network>
`;

const caps = parseDnsmasqVersion('Dnsmasq version 2.89');

function renderFiles(xml: string): Record<DnsmasqFile, string> {
  const files = dnsmasqFiles(parseNetwork(xml), { stateDir: '/state', pidFile: '/run/p.pid', caps });
  return { conf: files.conf, hostsfile: files.hostsfile ?? '', addnhosts: files.addnhosts };
}

const render = (xml: string) => Object.values(renderFiles(xml)).join('\n');

// --- a small serializer, so values can be put anywhere in the tree (control characters as references)
const ref = (c: string) => `&#${c.codePointAt(0)};`;
const escAttr = (v: string) =>
  v.replace(/[&<'"\p{Cc}]/gu, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : /\p{Cc}/u.test(c) ? ref(c) : c === "'" ? '&apos;' : '&quot;',
  );
const escText = (v: string) =>
  v.replace(/[&<>\p{Cc}]/gu, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : ref(c)));

function serialize(el: XmlElement): string {
  const attrs = el.attrOrder.map((a) => ` ${a}='${escAttr(el.attrs[a]!)}'`).join('');
  const inner = el.children
    .map((c) => (c.kind === 'element' ? serialize(c) : c.kind === 'text' ? escText(c.text) : ''))
    .join('');
  return `<${el.name}${attrs}>${inner}</${el.name}>`;
}

interface Spot {
  el: XmlElement;
  path: string;
  attribute?: string;
}

/** Every attribute and every text-only element of the tree, with its path as the table writes it. */
function spots(el: XmlElement, path: string, outer: Scope = {}): Spot[] {
  const scope = scopeIn(el, outer);
  const own: Spot[] = el.attrOrder
    .filter((a) => a !== 'xmlns' && !a.startsWith('xmlns:'))
    .map((attribute) => ({ el, path, attribute }));
  const kids = el.children.filter((c): c is XmlElement => c.kind === 'element');
  if (kids.length === 0 && el.children.length > 0) own.push({ el, path });
  return [...own, ...kids.flatMap((c) => spots(c, `${path}/${qualifiedName(c, scopeIn(c, scope))}`, scope))];
}

function setValue(spot: Spot, value: string): void {
  if (spot.attribute !== undefined) spot.el.attrs[spot.attribute] = value;
  else spot.el.children = [{ kind: 'text', text: value, cdata: false }];
}

/** The full network with one value replaced, and the (freshly parsed) tree it came from. */
function withValue(field: { path: string; attribute?: string }, value: string): { xml: string; spot: Spot } {
  const root = parseXml(FULL);
  const spot = spots(root, 'network').find((s) => s.path === field.path && s.attribute === field.attribute);
  assert.ok(spot, `the full network has no ${field.path} ${field.attribute ?? '(text)'}`);
  setValue(spot, value);
  const xml = serialize(root);
  const again = spots(parseXml(xml), 'network').find((s) => s.path === field.path && s.attribute === field.attribute)!;
  return { xml, spot: again };
}

/** What every row must refuse, and why: a line feed starting dhcp-script=, CR, tab, its own breakers, one byte too many. */
function hostileValues(field: DnsmasqField): [string, RegExp][] {
  const control = /control character '\\x(0a|0d|09)'/;
  return [
    ['0\ndhcp-script=/tmp/evil.sh', control],
    ['0\r\ndhcp-script=/tmp/evil.sh', control],
    ['0\r0', control],
    ['0\t0', control],
    ...[...field.rule.breaks].map((c): [string, RegExp] => [
      `0${c}dhcp-script=/tmp/evil.sh`,
      /would end, split or comment out/,
    ]),
    ['0'.repeat(field.rule.maxBytes + 1), /is too long/],
  ];
}

function refusedAt(
  fn: () => unknown,
  where: { file: string; line: number; col: number; element: string; attribute?: string },
  what: string,
  why: RegExp,
): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof VirtwallError, String(err));
    assert.equal(err.kind, 'invalid-input');
    assert.deepEqual(Object.fromEntries(Object.entries(err.location).filter(([, v]) => v !== undefined)), where);
    assert.match(err.detail, new RegExp(`^${what} '.*' cannot go into dnsmasq's [^:]+: `));
    assert.match(err.detail, why);
    assert.doesNotMatch(err.message, /[\n\r\t]/, 'the error message carries the control character');
    return true;
  });
}

describe('dnsmasq values: one table, refused before anything is written', () => {
  it('the full network renders with every table row reaching the dnsmasq file the row names', () => {
    assert.doesNotMatch(render(FULL), /zqrow1|0e:0d:0c:0b:0a:09/);
    for (const field of DNSMASQ_FIELDS) {
      const { xml } = withValue(
        field,
        field.rule === RULES.mac || field.rule === RULES.duid ? '0e:0d:0c:0b:0a:09' : 'zqrow1',
      );
      const files = renderFiles(xml);
      assert.match(
        files[field.file],
        /zqrow1|0e:0d:0c:0b:0a:09/,
        `${field.path} ${field.attribute ?? ''} does not reach ${field.file}`,
      );
    }
  });

  it('every string that reaches a dnsmasq file is a row of the table', () => {
    const all = spots(parseXml(FULL), 'network');
    const reached: string[] = [];
    all.forEach((spot, i) => {
      // a marker the value's parser keeps as written: a word, else a MAC/DUID-shaped hex string
      const hex = i.toString(16).padStart(2, '0');
      for (const marker of [`zq${i}mk`, `0e:0d:0c:0b:0a:${hex}`]) {
        let xml: string;
        try {
          xml = withValue(spot, marker).xml;
          if (!render(xml).includes(marker)) continue;
        } catch {
          continue; // a typed value (address, number, keyword) is formatted from its parsed form
        }
        const key = `${spot.path} ${spot.attribute ?? '(text)'}`;
        reached.push(key);
        assert.ok(
          DNSMASQ_FIELDS.some((f) => f.path === spot.path && f.attribute === spot.attribute),
          `${key} reaches dnsmasq's files but has no row in DNSMASQ_FIELDS`,
        );
        break;
      }
    });
    // the walk did find them all (a broken walk would pass the loop above)
    for (const f of DNSMASQ_FIELDS)
      assert.ok(reached.includes(`${f.path} ${f.attribute ?? '(text)'}`), `${f.path} ${f.attribute ?? ''} not reached`);
  });

  it('define refuses each row hostile value, naming file:line:col, element and attribute', () => {
    for (const field of DNSMASQ_FIELDS) {
      for (const [value, why] of hostileValues(field)) {
        const { xml, spot } = withValue(field, value);
        refusedAt(
          () => parseNetwork(xml, 'net.xml'),
          {
            file: 'net.xml',
            line: spot.el.line,
            col: spot.el.col,
            element: spot.el.name,
            ...(field.attribute !== undefined ? { attribute: field.attribute } : {}),
          },
          field.what,
          why,
        );
      }
    }
  });

  it('net-update refuses the same values in every section that carries a row', () => {
    const def = parseNetwork(FULL);
    let checked = 0;
    for (const section of UPDATE_SECTIONS) {
      const path = sectionPath(section);
      if (!path) continue;
      for (const field of DNSMASQ_FIELDS.filter((f) => f.path === path || f.path.startsWith(`${path}/`))) {
        for (const [value, why] of hostileValues(field)) {
          const { spot } = withValue(field, value);
          // the section's element (or the one holding the value) as a fragment on its own
          let fragment = spot.el;
          const depth = field.path.split('/').length - path.split('/').length;
          if (depth > 0) {
            const root = parseXml(withValue(field, value).xml);
            fragment = spots(root, 'network').find((s) => s.path === path)!.el;
          }
          const text = serialize(fragment);
          const located = spots(parseXml(text, 'update'), path).find(
            (s) => s.path === field.path && s.attribute === field.attribute,
          )!;
          for (const command of ['add-last', 'modify', 'delete'] as const) {
            refusedAt(
              () => updateNetwork(def, command, section, -1, text, 'update'),
              {
                file: 'update',
                line: located.el.line,
                col: located.el.col,
                element: located.el.name,
                ...(field.attribute !== undefined ? { attribute: field.attribute } : {}),
              },
              field.what,
              why,
            );
          }
          checked++;
        }
      }
    }
    // dns-txt, dns-srv, dns-host and ip-dhcp-host carry rows
    assert.ok(checked >= 4 * 5, `only ${checked} update cases`);
  });

  it('a namespace on the way does not hide a value from the check', () => {
    const NS = 'http://libvirt.org/schemas/network/dnsmasq/1.0';
    for (const xml of [
      `<network xmlns='${NS}'><name>n</name><dns><txt name='t' value='a&#10;dhcp-script=/tmp/evil.sh'/></dns></network>`,
      `<network><name>n</name><dns xmlns='urn:x'><txt name='t' value='a&#10;dhcp-script=/tmp/evil.sh'/></dns></network>`,
      `<network xmlns:x='${NS}'><name>n</name><x:dns><txt name='t' value='a&#10;dhcp-script=/tmp/evil.sh'/></x:dns><dns><txt name='t' value='a&#10;dhcp-script=/tmp/evil.sh'/></dns></network>`,
    ]) {
      assert.throws(
        () => parseNetwork(xml, 'ns.xml'),
        (err: unknown) =>
          err instanceof VirtwallError && err.location.attribute === 'value' && /DNS TXT record value/.test(err.detail),
        xml,
      );
    }
  });

  it('control characters XML cannot carry are refused by the table too (a tree from anywhere)', () => {
    for (const field of DNSMASQ_FIELDS) {
      for (const c of ['\0', '\x01', '\x1b', '\x7f', '\x85']) {
        const root = parseXml(FULL, 'net.xml');
        const spot = spots(root, 'network').find((s) => s.path === field.path && s.attribute === field.attribute)!;
        setValue(spot, `0${c}0`);
        assert.throws(
          () => checkDnsmasqFields(root, 'network'),
          (err: unknown) =>
            err instanceof VirtwallError &&
            err.location.element === spot.el.name &&
            err.location.attribute === field.attribute &&
            /control character/.test(err.detail),
        );
      }
    }
    // and an XML document cannot carry them at all
    assert.throws(
      () => parseNetwork('<network><name>a&#1;b</name></network>', 'net.xml'),
      (err: unknown) => err instanceof VirtwallError && err.kind === 'invalid-input' && err.location.file === 'net.xml',
    );
  });

  it('the file writer refuses a line dnsmasq would not read as one option, whatever the definition holds', () => {
    for (const [field, value] of [
      ['value', 'v\ndhcp-script=/tmp/evil.sh'],
      ['value', `${'v'.repeat(1000)}dhcp-script=/tmp/evil.sh`],
    ] as const) {
      const def = parseNetwork(FULL);
      def.dns.txts[0]![field] = value; // as if a future code path skipped the table
      assert.throws(
        () => dnsmasqFiles(def, { caps }),
        (err: unknown) =>
          err instanceof VirtwallError && err.kind === 'internal' && /not read as one option/.test(err.detail),
      );
    }
    const def = parseNetwork(FULL);
    def.ips[0]!.hosts[0]!.name = 'h\nevil';
    assert.throws(() => dnsmasqFiles(def, { caps }), /not read as one option/);
  });

  it('a DHCP host name dnsmasq would read as an address, a lease time or a keyword is refused', () => {
    const host = (name: string) => FULL.replace("name='dh1'", `name='${name}'`);
    for (const name of ['ignore', 'infinite', '12h', '3600', '10.0.0.9', 'a..b']) {
      assert.throws(
        () => parseNetwork(host(name), 'net.xml'),
        (err: unknown) =>
          err instanceof VirtwallError && err.location.attribute === 'name' && /DHCP host name/.test(err.detail),
        name,
      );
    }
    for (const name of ['host12', '12host', 'a.example.com', 'ignored', 'x-1'])
      assert.match(renderFiles(host(name)).hostsfile, new RegExp(`,${name}\n`));
  });

  it('values libvirt users write stay accepted', () => {
    const ok = FULL.replace("value='val1'", "value='example value'")
      .replace("root='/tftp1'", "root='/var/lib/tftp-root'")
      .replace("file='boot1'", "file='pxelinux.0'")
      .replace("target='tgt1'", "target='.'")
      .replace('<name>net1</name>', '<name>default"with"quotes"</name>')
      .replace("value='opt1=x'", 'value=\'server=/example.test/# cname=a,b "quoted"\'');
    assert.match(render(ok), /txt-record=txt1,example value\n/);
  });
});

describe('dnsmasq:options', () => {
  const NS = 'http://libvirt.org/schemas/network/dnsmasq/1.0';
  // libvirt's networkxml2xmlout/dnsmasq-options.xml layout: the declaration moves to <network>
  const expected = `<network xmlns:dnsmasq='${NS}'>
  <name>o</name>
  <uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>
  <bridge name='virbr9' stp='on' delay='0'/>
  <dnsmasq:options>
    <dnsmasq:option value='foo=bar'/>
    <dnsmasq:option value='cname=*.cloudapps.example.com,master.example.com'/>
  </dnsmasq:options>
</network>
`;
  const head = `<name>o</name><uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid><bridge name='virbr9'/>`;
  const opts = (p: string) =>
    `<${p}option value='foo=bar'/><${p}option value='cname=*.cloudapps.example.com,master.example.com'/>`;

  it('are kept wherever the namespace is declared, and formatted as libvirt does', () => {
    for (const xml of [
      `<network xmlns:dnsmasq='${NS}'>${head}<dnsmasq:options>${opts('dnsmasq:')}</dnsmasq:options></network>`,
      `<network>${head}<dnsmasq:options xmlns:dnsmasq='${NS}'>${opts('dnsmasq:')}</dnsmasq:options></network>`,
      `<network xmlns:d='${NS}'>${head}<d:options>${opts('d:')}</d:options></network>`,
      `<network>${head}<options xmlns='${NS}'>${opts('')}</options></network>`,
    ]) {
      assert.equal(formatNetwork(parseNetwork(xml), { inactive: true }), expected, xml);
    }
  });

  it('are not options outside the namespace, and need a value', () => {
    assert.deepEqual(
      parseNetwork(
        `<network>${head}<dnsmasq:options xmlns:dnsmasq='urn:other'>${opts('dnsmasq:')}</dnsmasq:options></network>`,
      ).dnsmasqOptions,
      [],
    );
    assert.throws(
      () =>
        parseNetwork(
          `<network xmlns:dnsmasq='${NS}'>${head}<dnsmasq:options><dnsmasq:option/></dnsmasq:options></network>`,
          'o.xml',
        ),
      (err: unknown) =>
        err instanceof VirtwallError &&
        /No dnsmasq options value specified/.test(err.detail) &&
        err.location.element === 'dnsmasq:option',
    );
  });

  it('end dnsmasq.conf, one line each, after everything libvirt writes', () => {
    const conf = dnsmasqFiles(
      parseNetwork(
        `<network>${head}<ip address='192.168.9.1' prefix='24'/><dnsmasq:options xmlns:dnsmasq='${NS}'>${opts('dnsmasq:')}</dnsmasq:options></network>`,
      ),
      { caps },
    ).conf;
    assert.match(conf, /addn-hosts=[^\n]*\nfoo=bar\ncname=\*\.cloudapps\.example\.com,master\.example\.com\n$/);
  });
});

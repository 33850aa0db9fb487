import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VirtwallError } from '../../src/errors.js';
import { formatNetwork } from '../../src/conf/network/format.js';
import { parseNetwork } from '../../src/conf/network/parse.js';
import { formatIp } from '../../src/util/address.js';

const UUID = '81ff0d90-c91e-6742-64da-4a736edb9a9b';

/** A network document with `body` inside <network>. */
const net = (body: string, rootAttrs = '') =>
  `<network${rootAttrs}>\n  <name>n</name>\n  <uuid>${UUID}</uuid>\n${body}\n</network>\n`;

function parseError(xml: string): VirtwallError {
  try {
    parseNetwork(xml, 'net.xml');
  } catch (err) {
    assert.ok(err instanceof VirtwallError, String(err));
    assert.equal(err.kind, 'invalid-input');
    return err;
  }
  assert.fail('expected the network to be rejected');
}

describe('network parse errors name file, line, element and attribute', () => {
  it('a bad bridge MAC points at <mac address>', () => {
    const err = parseError(net(`  <mac address='01:00:5e:00:00:01'/>`));
    assert.equal(err.location.file, 'net.xml');
    assert.equal(err.location.line, 4);
    assert.equal(err.location.element, 'mac');
    assert.equal(err.location.attribute, 'address');
    assert.match(err.detail, /multicast/);
  });

  it('an unknown forward mode points at <forward mode>', () => {
    const err = parseError(net(`  <forward mode='tunnel'/>`));
    assert.equal(err.location.element, 'forward');
    assert.equal(err.location.attribute, 'mode');
  });

  it('rejects what libvirt rejects', () => {
    const cases: [string, RegExp][] = [
      [net(`  <forward mode='open' dev='eth0'/>\n  <ip address='10.0.0.1' prefix='24'/>`), /forward dev not allowed/],
      [net(`  <forward mode='nat'/>`), /no IP address provided/],
      [net(`  <dns enable='no'><txt name='a' value='b'/></dns>`), /Extra data in disabled network/],
      [net(`  <ip address='10.0.0.1' netmask='255.0.0.0' prefix='8'/>`), /both a prefix and a netmask/],
      [net(`  <ip family='ipv6' address='10.0.0.1'/>`), /non-IPv6 address/],
      [
        net(`  <ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.1.2' end='10.0.1.9'/></dhcp></ip>`),
        /not entirely within network/,
      ],
      [
        net(`  <ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.9' end='10.0.0.2'/></dhcp></ip>`),
        /reversed/,
      ],
      [
        net(`  <ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.0.255'/></dhcp></ip>`),
        /broadcast address/,
      ],
      [net(`  <forward mode='passthrough'><interface dev='a'/><interface dev='a'/></forward>`), /listed once/],
      [net(`  <forward mode='vepa'/>\n  <bridge name='br0'/>`), /bridge name not allowed/],
      [
        net(`  <ip address='10.0.0.1' prefix='24'/>\n  <route address='10.1.0.0' prefix='16' gateway='192.168.0.1'/>`),
        /unreachable static route gateway/,
      ],
      [
        net(`  <ip address='10.0.0.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01'/></dhcp></ip>`),
        /Missing IP address/,
      ],
      [net(`  <vlan><tag id='4096'/></vlan>`), /too large/],
      [net(`  <virtualport><parameters profileid='x'/></virtualport>`), /missing required virtualport type/],
      [`<network><uuid>${UUID}</uuid></network>`, /missing name/],
      [net('').replace(UUID, 'not-a-uuid'), /malformed uuid/],
    ];
    for (const [xml, message] of cases) assert.match(parseError(xml).detail, message, xml);
  });

  it('malformed XML is invalid input with a position', () => {
    const err = parseError('<network><name>x</name>');
    assert.equal(err.location.file, 'net.xml');
    assert.ok(err.location.line !== undefined);
  });
});

describe('network canonical form', () => {
  const roundTrip = (xml: string) => formatNetwork(parseNetwork(xml));

  it('lower-cases the bridge MAC and adds the bridge defaults of bridge-based modes', () => {
    const out = roundTrip(net(`  <bridge name="virbr9"/>\n  <mac address='52:54:00:AB:CD:EF'/>`));
    assert.match(out, /<bridge name='virbr9' stp='on' delay='0'\/>/);
    assert.match(out, /<mac address='52:54:00:ab:cd:ef'\/>/);
  });

  it('leaves stp/delay off a host-bridge network', () => {
    const out = roundTrip(net(`  <forward mode='bridge'/>\n  <bridge name='br0'/>`));
    assert.match(out, /<bridge name='br0'\/>/);
  });

  it('copies <forward dev> into the interface list, and writes it back as the dev attribute', () => {
    const def = parseNetwork(net(`  <forward mode='route' dev='eth3'/>\n  <ip address='10.0.0.1' prefix='24'/>`));
    assert.deepEqual(def.forward.interfaces, [{ type: 'netdev', dev: 'eth3' }]);
    assert.match(
      formatNetwork(def),
      /<forward dev='eth3' mode='route'>\n {4}<interface dev='eth3'\/>\n {2}<\/forward>/,
    );
  });

  it('keeps netmask or prefix as written, computes the prefix, echoes family only when written', () => {
    const def = parseNetwork(
      net(
        `  <ip address='10.0.0.1' netmask='255.255.0.0'/>\n  <ip family='ipv6' address='fd00::1' prefix='64'/>\n  <ip address='172.16.0.1'/>`,
      ),
    );
    assert.deepEqual(
      def.ips.map((ip) => [ip.family, formatIp(ip.address), ip.prefix, ip.maskForm]),
      [
        ['ipv4', '10.0.0.1', 16, 'netmask'],
        ['ipv6', 'fd00::1', 64, 'prefix'],
        ['ipv4', '172.16.0.1', 16, 'none'],
      ],
    );
    const out = formatNetwork(def);
    assert.match(out, /<ip address='10.0.0.1' netmask='255.255.0.0'>\n {2}<\/ip>/);
    assert.match(out, /<ip family='ipv6' address='fd00::1' prefix='64'>/);
    assert.match(out, /<ip address='172.16.0.1'>/);
  });

  it("drops ipv6='no' and keeps ipv6='yes'", () => {
    assert.doesNotMatch(roundTrip(net('', " ipv6='no'")), /ipv6=/);
    assert.match(roundTrip(net('', " ipv6='yes'")), /^<network ipv6='yes'>/);
  });

  it('an isolated network without <forward> stays without it; <forward/> means nat', () => {
    assert.doesNotMatch(roundTrip(net(`  <ip address='10.0.0.1' prefix='24'/>`)), /<forward/);
    assert.match(roundTrip(net(`  <forward/>\n  <ip address='10.0.0.1' prefix='24'/>`)), /<forward mode='nat'\/>/);
  });

  it('writes leases with a unit only when they expire', () => {
    const out = roundTrip(
      net(
        `  <ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.0.9'><lease expiry='0'/></range><host mac='52:54:00:00:00:01' ip='10.0.0.5' name='h'><lease expiry='5'/></host></dhcp></ip>`,
      ),
    );
    assert.match(out, /<lease expiry='0'\/>/);
    assert.match(out, /<lease expiry='5' unit='minutes'\/>/);
  });

  it('keeps namespaced metadata, dropping children without a namespace or repeating one', () => {
    const xml = net(
      `  <metadata>\n    <app:a xmlns:app="urn:a">x</app:a>\n    <plain/>\n    <app:b xmlns:app="urn:a"/>\n    <o:c k="v"><o:d/></o:c>\n  </metadata>`,
      ' xmlns:o="urn:o"',
    );
    const out = roundTrip(xml);
    assert.match(
      out,
      /<metadata xmlns:o="urn:o">\n {4}<app:a xmlns:app="urn:a">x<\/app:a>\n {4}<o:c k="v">\n {6}<o:d\/>\n {4}<\/o:c>\n {2}<\/metadata>/,
    );
    assert.doesNotMatch(out, /plain|app:b/);
  });

  it('declares the dnsmasq namespace on the root only when options exist, whatever prefix was used', () => {
    const ns = 'http://libvirt.org/schemas/network/dnsmasq/1.0';
    const def = parseNetwork(net(`  <d:options><d:option value='a=b'/></d:options>`, ` xmlns:d='${ns}'`));
    assert.deepEqual(def.dnsmasqOptions, ['a=b']);
    assert.match(formatNetwork(def), new RegExp(`^<network xmlns:dnsmasq='${ns}'>[^]*<dnsmasq:option value='a=b'/>`));
    assert.doesNotMatch(roundTrip(net('', ` xmlns:d='${ns}'`)), /xmlns/);
  });

  it('shows the interfaces of a pf pool only in live output', () => {
    const def = parseNetwork(net(`  <forward mode='passthrough'><pf dev='eth0'/></forward>`));
    def.forward.interfaces.push({ type: 'netdev', dev: 'eth0v1', connections: 2 });
    assert.match(formatNetwork(def), /<interface dev='eth0v1' connections='2'\/>/);
    assert.doesNotMatch(formatNetwork(def, { inactive: true }), /<interface/);
  });

  it('formatting is stable: what it writes parses back to the same text', () => {
    const xml = net(
      `  <forward mode='nat'><nat ipv6='yes'><port start='1024' end='2048'/></nat></forward>\n  <bridge name='v' zone='z' stp='off' delay='2' macTableManager='libvirt'/>\n  <domain name='e.com' localOnly='yes'/>\n  <dns forwardPlainNames='no'><forwarder addr='8.8.8.8'/><srv service='s' protocol='tcp' target='t' port='1'/><host ip='10.0.0.7'><hostname>h</hostname></host></dns>\n  <ip address='10.0.0.1' prefix='24' localPtr='yes'><tftp root='/t'/><dhcp><range start='10.0.0.2' end='10.0.0.9'/><bootp file='f' server='10.0.0.3'/></dhcp></ip>\n  <portgroup name='p' default='yes'><bandwidth><inbound average='1'/></bandwidth></portgroup>`,
    );
    const once = roundTrip(xml);
    assert.equal(roundTrip(once), once);
  });
});

describe('network nat options', () => {
  it("keeps an explicit <nat ipv6='no'>", () => {
    const out = formatNetwork(
      parseNetwork(net(`  <forward mode='nat'><nat ipv6='no'/></forward>\n  <ip address='10.0.0.1' prefix='24'/>`)),
    );
    assert.match(out, /<forward mode='nat'>\n {4}<nat ipv6='no'\/>\n {2}<\/forward>/);
  });
});

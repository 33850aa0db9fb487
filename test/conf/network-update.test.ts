import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VirtwallError } from '../../src/errors.js';
import { formatNetwork } from '../../src/conf/network/format.js';
import { parseNetwork } from '../../src/conf/network/parse.js';
import { updateNetwork, type UpdateCommand, type UpdateSection } from '../../src/conf/network/update.js';
import { formatIp } from '../../src/util/address.js';

const base = parseNetwork(`<network>
  <name>n</name>
  <uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>
  <forward mode='nat' dev='eth0'/>
  <dns><txt name='t' value='v'/><host ip='10.0.0.7'><hostname>a</hostname><hostname>b</hostname></host></dns>
  <ip address='10.0.0.1' prefix='24'>
    <dhcp><range start='10.0.0.2' end='10.0.0.9'/><host mac='52:54:00:00:00:01' name='h1' ip='10.0.0.5'/></dhcp>
  </ip>
  <ip address='10.1.0.1' prefix='24'/>
  <ip family='ipv6' address='fd00::1' prefix='64'/>
  <portgroup name='dflt' default='yes'/>
</network>
`);

function rejects(
  command: UpdateCommand,
  section: UpdateSection,
  xml: string,
  kind: string,
  message: RegExp,
  parentIndex = -1,
): void {
  assert.throws(
    () => updateNetwork(base, command, section, parentIndex, xml, 'u.xml'),
    (err: unknown) => err instanceof VirtwallError && err.kind === kind && message.test(err.detail),
  );
}

describe('net-update errors', () => {
  it('sections libvirt cannot update', () => {
    for (const section of ['bridge', 'domain', 'ip', 'forward'] as const)
      rejects('add-last', section, '<x/>', 'invalid-input', new RegExp(`can't update '${section}' section`));
    rejects('add-last', 'forward-pf', "<pf dev='x'/>", 'invalid-input', /can't update 'forward pf' section/);
  });

  it('a fragment of the wrong element, located in its file', () => {
    assert.throws(
      () => updateNetwork(base, 'add-last', 'portgroup', -1, "<host ip='1.2.3.4'/>", 'u.xml'),
      (err: unknown) =>
        err instanceof VirtwallError &&
        /unexpected element <host>, expecting <portgroup>/.test(err.detail) &&
        err.location.file === 'u.xml',
    );
  });

  it('commands a section does not support', () => {
    rejects(
      'modify',
      'ip-dhcp-range',
      "<range start='10.0.0.2' end='10.0.0.9'/>",
      'invalid-input',
      /cannot be modified/,
    );
    rejects('modify', 'forward-interface', "<interface dev='eth1'/>", 'invalid-input', /cannot be modified/);
    rejects('modify', 'dns-srv', "<srv service='s' protocol='tcp'/>", 'invalid-input', /cannot be modified/);
  });

  it('duplicates, missing entries and ambiguity', () => {
    rejects(
      'add-last',
      'ip-dhcp-host',
      "<host mac='52:54:00:00:00:02' name='h1' ip='10.0.0.6'/>",
      'conflict',
      /existing dhcp host entry/,
    );
    rejects('delete', 'ip-dhcp-host', "<host name='nobody'/>", 'not-found', /couldn't locate a matching dhcp host/);
    rejects(
      'add-first',
      'ip-dhcp-range',
      "<range start='10.0.0.2' end='10.0.0.9'/>",
      'conflict',
      /existing dhcp range/,
    );
    rejects('add-last', 'forward-interface', "<interface dev='eth0'/>", 'conflict', /existing interface entry/);
    rejects(
      'add-last',
      'portgroup',
      "<portgroup name='other' default='yes'/>",
      'conflict',
      /already set as the default/,
    );
    rejects('add-last', 'dns-txt', "<txt name='t' value='w'/>", 'conflict', /already a DNS TXT record/);
    rejects('add-last', 'dns-host', "<host ip='10.0.0.7'><hostname>c</hostname></host>", 'conflict', /matching field/);
    rejects(
      'modify',
      'dns-host',
      "<host ip='10.0.0.8'><hostname>c</hostname></host>",
      'not-found',
      /couldn't locate a matching DNS HOST/,
    );
  });

  it('dhcp on a second address of the same family, and index/family mismatches', () => {
    rejects(
      'add-last',
      'ip-dhcp-range',
      "<range start='10.1.0.2' end='10.1.0.9'/>",
      'conflict',
      /only for a single IPv4 address/,
      1,
    );
    rejects(
      'add-last',
      'ip-dhcp-host',
      "<host mac='52:54:00:00:00:09' ip='10.0.0.9'/>",
      'not-found',
      /no <ip> element found at index 7/,
      7,
    );
    rejects(
      'add-last',
      'ip-dhcp-host',
      "<host id='0:1' name='x' ip='10.0.0.9'/>",
      'invalid-input',
      /address family of a host entry/,
      2,
    );
  });
});

describe('net-update results', () => {
  it('returns an updated copy and leaves the original alone', () => {
    const updated = updateNetwork(
      base,
      'add-first',
      'ip-dhcp-host',
      -1,
      "<host mac='52:54:00:00:00:02' name='h2' ip='10.0.0.6'/>",
    );
    assert.deepEqual(
      updated.ips[0]!.hosts.map((h) => h.name),
      ['h2', 'h1'],
    );
    assert.deepEqual(
      base.ips[0]!.hosts.map((h) => h.name),
      ['h1'],
    );
  });

  it('-1 picks the <ip> that already serves DHCP', () => {
    const updated = updateNetwork(base, 'add-last', 'ip-dhcp-range', -1, "<range start='10.0.0.20' end='10.0.0.30'/>");
    assert.deepEqual(
      updated.ips[0]!.ranges.map((r) => formatIp(r.start)),
      ['10.0.0.2', '10.0.0.20'],
    );
  });

  it('delete matches on the attributes given; modify replaces the entry found by mac, ip or name', () => {
    assert.equal(updateNetwork(base, 'delete', 'ip-dhcp-host', -1, "<host ip='10.0.0.5'/>").ips[0]!.hosts.length, 0);
    const modified = updateNetwork(
      base,
      'modify',
      'ip-dhcp-host',
      -1,
      "<host mac='52:54:00:00:00:01' name='renamed' ip='10.0.0.8'/>",
    );
    assert.deepEqual(
      modified.ips[0]!.hosts.map((h) => [h.name, formatIp(h.ip!)]),
      [['renamed', '10.0.0.8']],
    );
  });

  it('dns host: delete by a shared name, modify by address', () => {
    assert.equal(
      updateNetwork(base, 'delete', 'dns-host', -1, '<host><hostname>b</hostname></host>').dns.hosts.length,
      0,
    );
    const modified = updateNetwork(base, 'modify', 'dns-host', -1, "<host ip='10.0.0.7'><hostname>z</hostname></host>");
    assert.deepEqual(modified.dns.hosts[0]!.hostnames, ['z']);
  });

  it('forward interfaces are added before the first one when asked', () => {
    const out = formatNetwork(updateNetwork(base, 'add-first', 'forward-interface', -1, "<interface dev='eth9'/>"));
    assert.match(out, /<forward dev='eth9' mode='nat'>\n {4}<interface dev='eth9'\/>\n {4}<interface dev='eth0'\/>/);
  });
});

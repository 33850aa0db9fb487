// Address arithmetic the network driver relies on, against glibc's and libvirt's conventions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  classfulPrefix,
  formatIp,
  netmaskToPrefix,
  networkCidr,
  parseIp,
  prefixToNetmask,
  ptrDomain,
  rangeSize,
} from '../../src/util/address.js';
import { addr } from '../network/defs.js';

describe('inet', () => {
  it('prints IPv6 as inet_ntop does', () => {
    const cases: [string, string][] = [
      ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['0:0:0:0:0:ffff:102:304', '::ffff:1.2.3.4'],
      ['::', '::'],
    ];
    for (const [input, text] of cases) assert.equal(formatIp(addr(input)), text);
    for (const bad of ['1.2.3.4::', '01.2.3.4', '1:2:3:4:5:6:7:8:9', ':::1', '1::2::3'])
      assert.equal(parseIp(bad), undefined, bad);
  });

  it('masks networks and converts netmasks', () => {
    assert.equal(networkCidr(addr('192.168.122.77'), 24), '192.168.122.0/24');
    assert.equal(networkCidr(addr('2001:db8:ca2:2::1'), 64), '2001:db8:ca2:2::/64');
    assert.equal(formatIp(prefixToNetmask(20)), '255.255.240.0');
    assert.equal(netmaskToPrefix(addr('255.255.255.0')), 24);
    assert.equal(netmaskToPrefix(addr('255.0.255.0')), undefined);
    assert.deepEqual(
      ['10.24.10.1', '172.16.0.1', '192.168.1.1'].map((a) => classfulPrefix(addr(a))),
      [8, 16, 24],
    );
  });

  it('names reverse zones and sizes DHCP ranges', () => {
    assert.equal(ptrDomain(addr('192.168.122.1'), 24), '122.168.192.in-addr.arpa');
    assert.equal(ptrDomain(addr('192.168.122.1'), 25), undefined);
    assert.equal(ptrDomain(addr('2001:db8::1'), 32), '8.b.d.0.1.0.0.2.ip6.arpa');
    assert.equal(rangeSize(addr('192.168.122.2'), addr('192.168.122.254')), 253);
    assert.equal(rangeSize(addr('2001:db8::1:10'), addr('2001:db8::1:ff')), 240);
    assert.equal(rangeSize(addr('10.0.0.9'), addr('10.0.0.1')), undefined);
    assert.equal(rangeSize(addr('2001:db8::1'), addr('2001:db9::1')), undefined);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatIPv6, parseIPv4, parseIPv6, parseMac, prefixLength } from '../../src/util/address.js';
import { parseInt32, parseUInt, scanUInt } from '../../src/util/strtol.js';
import { nameBasedUuid, parseUuid } from '../../src/conf/uuid.js';
import { parseVarRef } from '../../src/conf/nwfilter/varref.js';

describe('libvirt value primitives', () => {
  it('read MACs as virMacAddrParse does', () => {
    assert.deepEqual(parseMac('1:2:3:a:B:cc'), [1, 2, 3, 10, 11, 204]);
    assert.deepEqual(parseMac('1:2:3:4:5:6 trailing'), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(parseMac('0F:fa:9:A0:bC:00'), [15, 250, 9, 160, 188, 0]);
    for (const bad of ['1:2:3:4:5:g', '1:2:3:4:5:G', '1:2:3:4:/:6', '1:2:3:4:@:6', '1:2:3:4:`:6'])
      assert.equal(parseMac(bad), undefined, bad);
    for (const bad of ['1:2:3:4:5', '001:2:3:4:5:6', '1:2:3:4:5:6:7', ' 1:2:3:4:5:6', '1-2-3-4-5-6', '1:2:3:4:5:6x'])
      assert.equal(parseMac(bad), undefined, bad);
  });

  it('read IPv4 in the forms inet_aton accepts, and only those', () => {
    assert.deepEqual(parseIPv4('10.1.2.3'), [10, 1, 2, 3]);
    assert.deepEqual(parseIPv4('10.65535'), [10, 0, 255, 255]);
    assert.deepEqual(parseIPv4('0x7f.1'), [127, 0, 0, 1]);
    assert.deepEqual(parseIPv4('017.0.0.1'), [15, 0, 0, 1]);
    assert.deepEqual(parseIPv4('4294967295'), [255, 255, 255, 255]);
    // plain a.b.c.d is read apart from the other forms: its edges, and parts that only look decimal
    assert.deepEqual(parseIPv4('0.0.0.0'), [0, 0, 0, 0]);
    assert.deepEqual(parseIPv4('255.255.255.255'), [255, 255, 255, 255]);
    assert.deepEqual(parseIPv4('1.2.3.010'), [1, 2, 3, 8]);
    assert.deepEqual(parseIPv4('00.1.2.3'), [0, 1, 2, 3]);
    assert.deepEqual(parseIPv4('1.2.3.0x10'), [1, 2, 3, 16]);
    for (const bad of ['1.2.3.256', '1.2.3.', '.1.2.3', '1.2.3.4.', '1.2.3.-4', '1.2.3.4\n', '1.2.3.09'])
      assert.equal(parseIPv4(bad), undefined, bad);
    for (const bad of ['256.1.1.1', '1.2.3.4.5', '1.2.3.4 ', '08.1.1.1', '', '1..2', '10.16777216.1'])
      assert.equal(parseIPv4(bad), undefined, bad);
  });

  it('read and print IPv6 as glibc does', () => {
    const cases: [string, string][] = [
      ['FE80:0:0:0:0:0:0:1', 'fe80::1'],
      ['::ffff:10.1.2.3', '::ffff:10.1.2.3'],
      ['::10.1.2.3', '::10.1.2.3'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['1:0:2:0:3:0:4:0', '1:0:2:0:3:0:4:0'],
      ['::', '::'],
      ['::1', '::1'],
    ];
    for (const [input, printed] of cases) assert.equal(formatIPv6(parseIPv6(input)!), printed, input);
    for (const bad of ['1::2::3', 'a:b:c', '12345::', '1:2:3:4:5:6:7::8', '1.2.3.4'])
      assert.equal(parseIPv6(bad), undefined, bad);
  });

  it('measure contiguous masks only', () => {
    assert.equal(prefixLength([255, 255, 128, 0]), 17);
    assert.equal(prefixLength([0, 0, 0, 0]), 0);
    assert.equal(prefixLength([255, 0, 255, 0]), undefined);
  });

  it('read numbers as virStrToLong_ui / _i do', () => {
    assert.equal(parseUInt(' 12'), 12);
    assert.equal(parseUInt('12 '), undefined);
    assert.equal(parseUInt('-1'), 4294967295);
    assert.equal(parseUInt('4294967296'), undefined);
    assert.equal(parseUInt('0x1F', 16), 31);
    assert.equal(parseUInt('1F', 16), 31);
    assert.equal(parseUInt('0x', 16), undefined);
    assert.equal(parseUInt('0x12'), undefined);
    assert.deepEqual(scanUInt('  7 ]'), { value: 7, length: 3 });
    assert.equal(parseInt32('-1000'), -1000);
    assert.equal(parseInt32('2147483648'), undefined);
  });

  it('read UUIDs liberally and derive name-based ones per RFC 4122', () => {
    assert.equal(parseUuid('  D54DF46F1AB54A228618-4560ef5fac2c\n'), 'd54df46f-1ab5-4a22-8618-4560ef5fac2c');
    assert.equal(parseUuid('d54df46f-1ab5-4a22-8618-4560ef5fac2'), undefined);
    assert.equal(parseUuid('d54df46f-1ab5-4a22-8618-4560ef5fac2c0'), undefined);
    assert.equal(
      nameBasedUuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com'),
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });

  it('read variable references as virNWFilterVarAccessParse does', () => {
    assert.deepEqual(parseVarRef('A_1'), { kind: 'iterator', name: 'A_1', iterId: 0 });
    assert.deepEqual(parseVarRef('A[ @ 3 ] junk'), { kind: 'iterator', name: 'A', iterId: 3 });
    assert.deepEqual(parseVarRef('A[7]'), { kind: 'element', name: 'A', index: 7 });
    assert.equal(typeof parseVarRef('A[@1001]'), 'string');
    assert.equal(typeof parseVarRef('A[x]'), 'string');
    assert.equal(typeof parseVarRef('A-B'), 'string');
  });
});

// dnsmasq configuration beyond the corpus: the DNS hosts file, reverse zones, static-only DHCP,
// boot servers, DHCPv6 host lines and the errors libvirt raises.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dnsmasqFiles, parseDnsmasqVersion } from '../../src/network/dnsmasq/config.js';
import type { NetworkDef, NetworkIp } from '../../src/conf/network/types.js';
import { addr, ipDef, networkDef } from './defs.js';

const caps = parseDnsmasqVersion('Dnsmasq version 2.90  Copyright (c) 2000-2024 Simon Kelley\n');

const ipv4 = (extra: Partial<NetworkIp> = {}) => ipDef('10.9.0.1', 24, extra);
const ipv6 = (address: string, prefix: number, extra: Partial<NetworkIp> = {}) => ipDef(address, prefix, extra);
const network = (extra: Partial<NetworkDef> = {}) =>
  networkDef('nat', { name: 'lab', bridge: { name: 'vbr9', stp: true, delay: 0 }, ips: [ipv4()], ...extra });

const confLines = (net: NetworkDef, stateDir?: string) =>
  dnsmasqFiles(net, { caps, ...(stateDir ? { stateDir } : {}) }).conf.split('\n');

describe('dnsmasq configuration', () => {
  it('groups DNS host names per address in the addn-hosts file', () => {
    const net = network({
      dns: {
        forwarders: [],
        txts: [],
        srvs: [],
        hosts: [
          { ip: addr('10.9.0.5'), hostnames: ['db', 'db.lab'] },
          { ip: addr('fd00::5'), hostnames: ['db6'] },
          { ip: addr('10.9.0.5'), hostnames: ['backup'] },
        ],
      },
    });
    assert.equal(dnsmasqFiles(net, { caps }).addnhosts, '10.9.0.5\tdb\tdb.lab\tbackup\t\nfd00::5\tdb6\t\n');
  });

  it('answers reverse lookups locally for localPtr subnets and refuses odd prefixes', () => {
    const net = network({ ips: [ipv4({ localPtr: true }), ipv6('fd00:1:2::1', 48, { localPtr: true })] });
    const lines = confLines(net);
    assert.ok(lines.includes('local=/0.9.10.in-addr.arpa/'));
    assert.ok(lines.includes('local=/2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa/'));
    assert.throws(
      () => confLines(network({ ips: [ipv4({ localPtr: true, prefix: 20 })] })),
      /PTR domain for IPv4 network with prefix 20/,
    );
  });

  it('enables static-only DHCP with a static range, and writes host lines for both families', () => {
    const net = network({
      ips: [
        ipv4({
          hosts: [
            { name: 'only-name', ip: addr('10.9.0.7') },
            { mac: '52:54:00:00:00:01', ip: addr('10.9.0.8'), lease: { expiry: 0, unit: 'minutes' } },
          ],
        }),
        ipv6('fd00::1', 64, { hosts: [{ id: '0:1:2', ip: addr('fd00::9'), lease: { expiry: 30, unit: 'minutes' } }] }),
      ],
    });
    const files = dnsmasqFiles(net, { caps, stateDir: '/run/vw' });
    const lines = files.conf.split('\n');
    assert.ok(lines.includes('dhcp-range=10.9.0.1,static'));
    assert.ok(lines.includes('dhcp-range=fd00::1,static,64'));
    assert.ok(!lines.some((l) => l.startsWith('dhcp-lease-max')), 'no pool, no lease limit');
    assert.ok(lines.includes('dhcp-hostsfile=/run/vw/lab.hostsfile'));
    assert.equal(files.hostsfile, 'only-name,10.9.0.7\n52:54:00:00:00:01,10.9.0.8,infinite\nid:0:1:2,[fd00::9],30m\n');
  });

  it('names the boot server and turns off DNS when asked', () => {
    const net = network({
      dns: { enable: false, forwarders: [{ domain: 'corp' }], txts: [{ name: 't', value: 'v' }], srvs: [], hosts: [] },
      ips: [
        ipv4({
          ranges: [{ start: addr('10.9.0.10'), end: addr('10.9.0.19') }],
          bootFile: 'pxe.0',
          bootServer: addr('10.9.0.2'),
        }),
      ],
    });
    const lines = confLines(net);
    assert.ok(lines.includes('port=0'));
    assert.ok(lines.includes('dhcp-boot=pxe.0,,10.9.0.2'));
    assert.ok(lines.includes('dhcp-lease-max=10'));
    assert.ok(!lines.some((l) => l.startsWith('server=') || l.startsWith('txt-record') || l.startsWith('addn-hosts')));
  });

  it('forwards a domain nowhere with server=/domain/#', () => {
    const net = network({
      dns: {
        forwarders: [{ domain: 'corp' }, { domain: 'x', addr: addr('10.0.0.53') }],
        txts: [],
        srvs: [],
        hosts: [],
      },
    });
    const lines = confLines(net);
    assert.ok(lines.includes('server=/corp/#'));
    assert.ok(lines.includes('server=/x/10.0.0.53'));
    assert.ok(!lines.includes('no-resolv'), 'every forwarder is domain-specific');
  });

  it('refuses two DHCP address ranges of one family', () => {
    const range = [{ start: addr('10.9.0.10'), end: addr('10.9.0.19') }];
    const net = network({ ips: [ipv4({ ranges: range }), ipv4({ ranges: range })] });
    assert.throws(() => confLines(net), /For IPv4, multiple DHCP definitions cannot be specified/);
  });

  it('requires dnsmasq 2.67 or later', () => {
    assert.deepEqual(parseDnsmasqVersion('Dnsmasq version 2.67').version, [2, 67]);
    assert.throws(() => parseDnsmasqVersion('Dnsmasq version 2.66'), /2\.67 required but 2\.66 found/);
    assert.throws(() => parseDnsmasqVersion('something else'), /cannot parse/);
  });
});

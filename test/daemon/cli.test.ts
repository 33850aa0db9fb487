// Pure parts of the daemon's user interface: virtwall.conf parsing, virsh's table layout and
// the completion scripts (run in a real bash and zsh) without a daemon.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { daemonConfig, parseConf } from '../../src/daemon/config.js';
import type { VirtwallError } from '../../src/errors.js';
import { formatTable } from '../../src/cli/table.js';
import { UPDATE_SECTIONS } from '../../src/conf/network/update.js';
import { completer } from './completion-shell.js';

describe('virtwall.conf', () => {
  it('reads libvirt conf syntax and defaults to nftables for both backends', () => {
    assert.deepEqual(daemonConfig(parseConf('', 'c')), {
      networkFirewallBackend: 'nftables',
      nwfilterBackend: 'nftables',
      logLevel: 2,
      logFile: undefined,
      tls: undefined,
      maxClients: 64,
      idleTimeout: 10,
      reconcileInterval: 0,
      libvirtSockets: true,
      foreignForwardAccept: true,
      nwfilterTableOwner: true,
      metricsListen: undefined,
      dashboardListen: undefined,
      fleet: undefined,
    });
    const c = daemonConfig(
      parseConf(
        '# comment\nnwfilter_backend = "ebiptables"\nnetwork_firewall_backend = \'iptables\'  # trailing\nlog_level = 1\nlog_outputs="1:file:/var/log/v.log"\nlisten_tls = 1\ntls_port = "1234"\nca_file = "/ca.pem"\n',
        'c',
      ),
      '/srv/r',
    );
    assert.equal(daemonConfig(parseConf('foreign_forward_accept = 0', 'c')).foreignForwardAccept, false);
    assert.equal(daemonConfig(parseConf('nwfilter_table_owner = 0', 'c')).nwfilterTableOwner, false);
    assert.equal(c.nwfilterBackend, 'ebiptables');
    assert.equal(c.networkFirewallBackend, 'iptables');
    assert.equal(c.logLevel, 1);
    assert.equal(c.logFile, '/var/log/v.log');
    assert.deepEqual(c.tls, {
      host: '127.0.0.1',
      port: 1234,
      keyFile: '/srv/r/etc/pki/libvirt/private/serverkey.pem',
      certFile: '/srv/r/etc/pki/libvirt/servercert.pem',
      caFile: '/ca.pem',
      crlFile: undefined,
    });
  });

  it('refuses unknown keys, wrong types and values, naming the line', () => {
    for (const [text, line] of [
      ['\nnwfilter_backendd = "nftables"', 2],
      ['log_level = "1"', 1],
      ['nwfilter_backend = "ipfw"', 1],
      ['x', 1],
      ['max_clients = 0', 1],
      ['foreign_forward_accept = 2', 1],
      ['\n\nlisten_tcp = 1', 3],
    ] as const) {
      assert.throws(
        () => parseConf(text, 'virtwall.conf'),
        (e: VirtwallError) => e.kind === 'invalid-input' && e.location.line === line,
        text,
      );
    }
  });
});

describe('virtwall.conf: the fleet', () => {
  const fleet = (extra: string) =>
    `etcd_endpoints = "https://10.0.0.1:2379,https://etcd-2.example:2379"\netcd_cacert = "/pki/ca.pem"\netcd_cert = "/pki/c.pem"\netcd_key = "/pki/c.key"\n${extra}`;

  it('reads the etcd endpoints, prefix, TLS files and host name, with defaults', () => {
    assert.deepEqual(daemonConfig(parseConf(fleet('host_name = "h1.example"'), 'c')).fleet, {
      endpoints: ['https://10.0.0.1:2379', 'https://etcd-2.example:2379'],
      prefix: '/virtwall/',
      caFile: '/pki/ca.pem',
      certFile: '/pki/c.pem',
      keyFile: '/pki/c.key',
      hostName: 'h1.example',
    });
    assert.equal(daemonConfig(parseConf(fleet('etcd_prefix = "/dc1/vw/"'), 'c')).fleet?.prefix, '/dc1/vw/');
  });

  it('refuses hostile or malformed fleet values, naming the line, and a fleet without client certificate', () => {
    for (const [text, line] of [
      ['etcd_endpoints = "http://10.0.0.1:2379"', 1],
      ['etcd_endpoints = "https://10.0.0.1:2379,"', 1],
      ['etcd_endpoints = "https://a b:2379"', 1],
      ['\netcd_prefix = "virtwall"', 2],
      ['etcd_prefix = "/../x/"', 1],
      ['etcd_cacert = "ca.pem"', 1],
      ['etcd_key = "/pki/$(reboot)"', 1],
      ['host_name = "h1/../../x"', 1],
      ['host_name = "-h"', 1],
    ] as const) {
      assert.throws(
        () => parseConf(text, 'virtwall.conf'),
        (e: VirtwallError) => e.kind === 'invalid-input' && e.location.line === line,
        text,
      );
    }
    assert.throws(
      () => daemonConfig(parseConf('etcd_endpoints = "https://10.0.0.1:2379"', 'c')),
      /'etcd_cacert' is required/,
    );
  });
});

describe('virsh table layout', () => {
  it('pads columns to the widest cell plus two and dashes width + 3 per column', () => {
    assert.equal(
      formatTable(['Name', 'State'], [['default', 'active']]),
      ' Name      State\n-------------------\n default   active\n',
    );
  });

  it('sizes the columns to the rows alone without the header (virsh -q)', () => {
    assert.equal(formatTable(['Name', 'State'], [['a', 'active']], false), ' a   active\n');
  });
});

for (const shell of ['bash', 'zsh'] as const) {
  describe(`${shell} completion without a daemon`, { skip: completer(shell) ? false : `needs ${shell}` }, () => {
    it("completes command names, a command's options and net-update's words", (t) => {
      const complete = completer(shell)!;
      t.after(complete.cleanup);
      assert.deepEqual(complete(['net-li']), ['net-list']);
      assert.deepEqual(complete(['--root', '/nonexistent', 'net-list', '--a']), ['--all', '--autostart']);
      assert.deepEqual(complete(['-q', 'nwfilter-binding-l']), ['nwfilter-binding-learning', 'nwfilter-binding-list']);
      assert.deepEqual(complete(['net-update', 'default', 'add-']), ['add-first', 'add-last']);
      assert.deepEqual(complete(['net-update', 'default', 'modify', '']), [...UPDATE_SECTIONS].sort());
      assert.deepEqual(complete(['completion', '']), [], 'no names: the shell completes file names');
    });
  });
}

// Pure parts of the daemon's user interface: virtwall.conf parsing, virsh's table layout and
// the generated bash completion (run in a real bash).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { daemonConfig, parseConf } from '../../src/daemon/config.js';
import { VirtwallError } from '../../src/errors.js';
import { buildProgram } from '../../src/cli/main.js';
import { bashCompletion } from '../../src/cli/commands/completion.js';
import { formatTable } from '../../src/cli/table.js';

describe('virtwall.conf', () => {
  it('reads libvirt conf syntax and defaults to nftables for both backends', () => {
    assert.deepEqual(daemonConfig(parseConf('', 'c')), { networkFirewallBackend: 'nftables', nwfilterBackend: 'nftables', logLevel: 2, logFile: undefined, tcp: undefined, reconcileInterval: 0, foreignForwardAccept: true });
    assert.equal(daemonConfig(parseConf('foreign_forward_accept = 0', 'c')).foreignForwardAccept, false);
    const c = daemonConfig(parseConf('# comment\nnwfilter_backend = "ebiptables"\nnetwork_firewall_backend = \'iptables\'  # trailing\nlog_level = 1\nlog_outputs="1:file:/var/log/v.log"\nlisten_tcp = 1\ntcp_port = "1234"\n', 'c'));
    assert.equal(c.nwfilterBackend, 'ebiptables');
    assert.equal(c.networkFirewallBackend, 'iptables');
    assert.equal(c.logLevel, 1);
    assert.equal(c.logFile, '/var/log/v.log');
    assert.deepEqual(c.tcp, { host: '127.0.0.1', port: 1234 });
  });

  it('refuses unknown keys, wrong types and values, naming the line', () => {
    for (const [text, line] of [['\nnwfilter_backendd = "nftables"', 2], ['log_level = "1"', 1], ['nwfilter_backend = "ipfw"', 1], ['foreign_forward_accept = 2', 1], ['x', 1]] as const) {
      assert.throws(() => parseConf(text, 'virtwall.conf'), (e: VirtwallError) => e.kind === 'invalid-input' && e.location.line === line, text);
    }
  });
});

describe('virsh table layout', () => {
  it('pads columns to the widest cell plus two and dashes width + 3 per column', () => {
    assert.equal(formatTable(['Name', 'State'], [['default', 'active']]), ' Name      State\n-------------------\n default   active\n');
  });
});

describe('bash completion', () => {
  it('completes command names and the options of a command', () => {
    const script = bashCompletion(buildProgram());
    const complete = (words: string) =>
      spawnSync('bash', ['-c', `${script}\nCOMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _virtwall; echo "\${COMPREPLY[@]}"`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(complete('virtwall net-li'), 'net-list');
    assert.equal(complete("virtwall --root /x net-list --a"), '--all');
    assert.match(complete("virtwall nwfilter-binding-"), /nwfilter-binding-create .*nwfilter-binding-list/);
  });
});

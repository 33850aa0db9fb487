// dnsmasq reads its hosts files after giving up root (src/network/dnsmasq/reach.ts): a network
// whose hosts it could not read is refused at start with the folder to open, instead of running
// without its DNS hosts and DHCP reservations; once the folder lets others pass, dnsmasq serves them.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseNetwork } from '../../src/conf/network/parse.js';
import { DiagnosticList } from '../../src/errors.js';
import { SystemRunner } from '../../src/exec/runner.js';
import { parseDnsmasqVersion } from '../../src/network/dnsmasq/config.js';
import { closedToOthers } from '../../src/network/dnsmasq/reach.js';
import { NetworkDriver } from '../../src/network/lifecycle/driver.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';

describe('which path dnsmasq cannot reach', () => {
  const base = mkdtempSync(join(tmpdir(), 'vwt-reach-'));
  after(() => rmSync(base, { recursive: true, force: true }));

  it('names the first folder others cannot pass, then a file they cannot read', () => {
    mkdirSync(join(base, 'a/b'), { recursive: true, mode: 0o755 });
    const file = join(base, 'a/b/n.hostsfile');
    writeFileSync(file, '', { mode: 0o644 });
    chmodSync(base, 0o700);
    chmodSync(join(base, 'a'), 0o750);
    assert.deepEqual(closedToOthers(file), { path: base, mode: 0o700, lacks: 'search' });
    chmodSync(base, 0o711);
    assert.deepEqual(closedToOthers(file), { path: join(base, 'a'), mode: 0o750, lacks: 'search' });
    chmodSync(join(base, 'a'), 0o755);
    assert.equal(closedToOthers(file), undefined);
    chmodSync(file, 0o600);
    assert.deepEqual(closedToOthers(file), { path: file, mode: 0o600, lacks: 'read' });
    assert.equal(closedToOthers(join(base, 'a/b/not-yet-written')), undefined);
  });
});

describe('a network whose hosts dnsmasq cannot read', { skip }, () => {
  const lab = new NetnsLab();
  const base = mkdtempSync(join(tmpdir(), 'vwt-reach-net-'));
  after(() => {
    lab.cleanup();
    rmSync(base, { recursive: true, force: true });
  });
  const xml = `<network><name>reach</name><bridge name='vwreach0'/><domain name='lab'/>
  <dns><host ip='192.168.77.50'><hostname>svc</hostname></host></dns>
  <ip address='192.168.77.1' netmask='255.255.255.0'><dhcp><range start='192.168.77.10' end='192.168.77.20'/></dhcp></ip>
</network>`;

  it('is refused before anything is created, and served once the folder lets others pass', async () => {
    const host = lab.netns('h');
    lab.exec(host, ['ip', 'link', 'set', 'lo', 'up']);
    const stateDir = join(base, 'state');
    const driver = new NetworkDriver({
      runner: new SystemRunner({ netns: host }),
      stateDir,
      firewallBackend: 'nftables',
      dnsmasqCaps: async () =>
        parseDnsmasqVersion(spawnSync('dnsmasq', ['--version'], { encoding: 'utf8' }).stdout ?? ''),
      diag: new DiagnosticList(),
    });
    const def = parseNetwork(xml);
    chmodSync(base, 0o700);
    await assert.rejects(driver.start(def), (err: Error) => {
      assert.match(err.message, new RegExp(`cannot pass folder ${base} \\(mode 0700\\)`));
      assert.match(err.message, new RegExp(`chmod o\\+x ${base}`));
      return true;
    });
    assert.equal(lab.exec(host, ['ip', 'link', 'show', 'vwreach0'], false).status === 0, false, 'no bridge made');

    chmodSync(base, 0o711);
    await driver.start(def);
    try {
      const r = lab.exec(host, ['dig', '+short', '+time=2', '+tries=2', '@192.168.77.1', 'svc.lab'], false);
      assert.equal(r.stdout.trim(), '192.168.77.50', `dig: ${r.stdout}${r.stderr}`);
    } finally {
      await driver.stop('reach');
      await driver.settle();
    }
  });
});

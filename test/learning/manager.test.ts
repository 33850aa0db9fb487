import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { learningJson, learningXml } from '../../src/learning/format.js';
import { loadLearning, saveLearning } from '../../src/learning/state-file.js';
import { LearningManager, type AddressesChanged, type LearningPort } from '../../src/learning/manager.js';
import { dhcp, ipv4 } from './craft.js';

const G = '52:54:00:00:00:0a';
const S = '52:54:00:00:00:01';
const T0 = 2_000_000;

function setup(overrides: Partial<LearningPort> = {}) {
  let now = T0;
  const changes: [string, AddressesChanged][] = [];
  const failures: [string, string][] = [];
  const observers: {
    port: string;
    stopped: boolean;
    deliver: (f: Uint8Array, g: boolean) => void;
    fail: (m: string) => void;
  }[] = [];
  const opts = {
    onAddressesChanged: (port: string, c: AddressesChanged) => changes.push([port, c]),
    onLearningFailed: (port: string, message: string) => failures.push([port, message]),
    observe: (p: LearningPort, deliver: (f: Uint8Array, g: boolean) => void, fail: (m: string) => void) => {
      const o = { port: p.port, stopped: false, deliver, fail };
      observers.push(o);
      return { stop: () => (o.stopped = true) };
    },
    now: () => now,
  };
  const port: LearningPort = {
    port: 'vnet0',
    mac: G,
    mode: 'any',
    dhcpServers: [],
    dhcpServersV6: [],
    mechanism: 'traffic',
    needs: { ipv4: true, ipv6: false },
    ...overrides,
  };
  const m = new LearningManager(opts);
  return { m, port, changes, failures, observers, opts, tick: (s: number) => (now += s) };
}

const ack = (yiaddr: string, lease: number) =>
  dhcp('ff:ff:ff:ff:ff:ff', S, '10.0.0.1', '255.255.255.255', {
    type: 5,
    chaddr: G,
    yiaddr,
    lease,
    server: '10.0.0.1',
  });

describe('LearningManager', () => {
  it('any: reports the lock once, stops observing, and keeps it across a saved state file', () => {
    const { m, port, changes, observers, opts } = setup();
    m.watch(port);
    assert.equal(observers.length, 1);
    observers[0]!.deliver(ipv4(S, G, '10.0.0.5', '10.0.0.1'), true);
    observers[0]!.deliver(ipv4(S, G, '10.0.0.6', '10.0.0.1'), true);
    assert.deepEqual(changes, [['vnet0', { ipv4: ['10.0.0.5'], ipv6: [], source: 'ip-traffic' }]]);
    assert.equal(observers[0]!.stopped, true);

    const dir = mkdtempSync(join(tmpdir(), 'vwt-learnstate-'));
    const file = join(dir, 'learning.json');
    assert.deepEqual(loadLearning(file), { version: 1, ports: [] });
    saveLearning(file, m.toJSON());
    const saved = loadLearning(file);
    assert.deepEqual(saved, JSON.parse(JSON.stringify(m.toJSON())), 'the schema takes what toJSON gives');
    // a corrupt file (torn, or a wrong type) is set aside and learning starts afresh
    for (const text of [
      '{"version": 1',
      JSON.stringify({
        ...saved,
        ports: [{ ...saved.ports[0], config: { ...saved.ports[0]!.config, port: 'vnet0;reboot' } }],
      }),
    ]) {
      writeFileSync(file, text);
      assert.deepEqual(loadLearning(file), { version: 1, ports: [] });
      assert.equal(existsSync(file), false);
      const aside = readdirSync(dir).filter((f) => f.startsWith('learning.json.corrupt-'));
      assert.equal(aside.length, 1);
      assert.equal(readFileSync(join(dir, aside[0]!), 'utf8'), text);
      rmSync(join(dir, aside[0]!));
    }
    rmSync(dir, { recursive: true });
    changes.length = 0;
    const again = LearningManager.fromJSON(saved, opts);
    assert.deepEqual(changes, [['vnet0', { ipv4: ['10.0.0.5'], ipv6: [], source: 'restored' }]]);
    assert.equal(observers.length, 1, 'a complete lock needs no observer after a restart');
    again.observeFrame('vnet0', ipv4(S, G, '10.0.0.7', '10.0.0.1'), true);
    assert.equal(changes.length, 1);
  });

  it('dhcp: keeps observing, reports each lease and each expiry', () => {
    const { m, port, changes, observers, tick } = setup({ mode: 'dhcp' });
    m.watch(port);
    observers[0]!.deliver(ack('10.0.0.5', 100), false);
    tick(10);
    observers[0]!.deliver(ack('10.0.0.6', 20), false);
    assert.equal(observers[0]!.stopped, false);
    assert.equal(m.expire(), T0 + 30);
    tick(20);
    assert.equal(m.expire(), T0 + 100);
    assert.deepEqual(
      changes.map(([, c]) => [c.ipv4, c.source]),
      [
        [['10.0.0.5'], 'dhcp-snoop'],
        [['10.0.0.5', '10.0.0.6'], 'dhcp-snoop'],
        [['10.0.0.5'], 'expired'],
      ],
    );
  });

  it('a dying observer is reported once, and not after the port was forgotten', () => {
    const { m, port, observers, failures } = setup({ mode: 'dhcp' });
    m.watch(port);
    observers[0]!.fail('tcpdump exited (1)');
    observers[0]!.fail('tcpdump exited (1)');
    assert.deepEqual(failures, [['vnet0', 'tcpdump exited (1)']]);
    assert.equal(observers[0]!.stopped, true);
    m.watch(port);
    m.forget('vnet0');
    observers[1]!.fail('late');
    assert.equal(failures.length, 1);
  });

  it('forget stops the observer and drops what was learned', () => {
    const { m, port, observers } = setup({ mode: 'dhcp' });
    m.watch(port);
    observers[0]!.deliver(ack('10.0.0.5', 100), false);
    m.forget('vnet0');
    assert.equal(observers[0]!.stopped, true);
    assert.equal(m.learned('vnet0'), undefined);
    assert.deepEqual(m.toJSON().ports, []);
  });

  it('dnsmasq leases feed the ports of that bridge by MAC, without capture', () => {
    const { m, port, changes, observers } = setup({ mode: 'dhcp', mechanism: 'dnsmasq-leases', bridge: 'virbr1' });
    m.watch(port);
    m.watch({ ...port, port: 'vnet1', mac: '52:54:00:00:00:0b' });
    assert.equal(observers.length, 0);
    m.applyLeases('virbr9', [{ ipAddress: '10.0.0.5', expiryTime: T0 + 60, macAddress: G }]);
    m.applyLeases('virbr1', [
      { ipAddress: '10.0.0.5', expiryTime: T0 + 60, macAddress: '52:54:00:00:00:0A' },
      { ipAddress: '10.0.0.8', expiryTime: T0 + 60, macAddress: '52:54:00:00:00:0c' },
    ]);
    assert.deepEqual(changes, [['vnet0', { ipv4: ['10.0.0.5'], ipv6: [], source: 'dnsmasq-lease' }]]);
    m.applyLeases('virbr1', []);
    assert.deepEqual(changes[1], ['vnet0', { ipv4: [], ipv6: [], source: 'released' }]);
  });

  it('formats learned addresses and how they were learned as JSON and XML', () => {
    const { m, port, observers } = setup({ mode: 'dhcp', needs: { ipv4: true, ipv6: true } });
    m.watch(port);
    const before = m.learned('vnet0')!;
    assert.deepEqual(learningJson(before.config, before.state), {
      mode: 'dhcp',
      mechanism: 'traffic',
      learning: true,
      addresses: [],
    });
    observers[0]!.deliver(ack('10.0.0.5', 100), false);
    const { config, state } = m.learned('vnet0')!;
    const json = learningJson(config, state);
    assert.deepEqual(json.addresses, [
      {
        family: 'ipv4',
        address: '10.0.0.5',
        source: 'dhcp-snoop',
        learned: new Date(T0 * 1000).toISOString(),
        expires: new Date((T0 + 100) * 1000).toISOString(),
        server: '10.0.0.1',
      },
    ]);
    assert.equal(json.learning, true, 'IPv6 is still unknown');
    const xml = learningXml(config, state, 0);
    assert.match(
      xml,
      /^<vw:ip-learning xmlns:vw='[^']+' mode='dhcp' mechanism='traffic' state='learning'>\n  <vw:address family='ipv4' address='10\.0\.0\.5' source='dhcp-snoop' server='10\.0\.0\.1' learned='[^']+' expires='[^']+'\/>\n<\/vw:ip-learning>\n$/,
    );
  });
});

// Pure parts of the observation: nft's JSON read into rule counters and port shapes, drops from
// counter deltas, the listen-address settings and the read-only request checks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { ruleCounters, type CounterSnapshot } from '../../src/observe/counters.js';
import { DropLog, MAX_DROPS } from '../../src/observe/dashboard/drops.js';
import { checkReadOnly, type RefusedRequest } from '../../src/observe/read-only-http.js';
import { daemonConfig, parseConf } from '../../src/daemon/config.js';
import type { VirtwallError } from '../../src/errors.js';

const S = 'sab12cd34ef';
const rule = (table: string, chain: string, comment: string | undefined, expr: object[]) => ({
  rule: { family: 'bridge', table, chain, handle: 9, ...(comment === undefined ? {} : { comment }), expr },
});
const counter = (packets: number, bytes: number) => ({ counter: { packets, bytes } });
const listing = (...items: object[]) => JSON.stringify({ nftables: [{ metainfo: { version: '1.0.6' } }, ...items] });

describe('rule counters from nft -t -j list ruleset', () => {
  it('reads our rules with their origin and verdict, sums equal ones, skips jumps and foreign tables', () => {
    const text = listing(
      { table: { family: 'bridge', name: 'virtwall_nwf', handle: 1 } },
      rule('virtwall_nwf', `${S}_from`, 'mac prio=-800', [counter(50, 5000), { jump: { target: `${S}_from_mac` } }]),
      rule('virtwall_nwf', `${S}_from_ipv4_ip`, 'clean-traffic/no-ip-spoofing prio=500', [
        { match: { op: '==', left: {}, right: '@x' } },
        counter(7, 700),
        { return: null },
      ]),
      rule('virtwall_nwf', `${S}_from_ipv4_ip`, 'clean-traffic/no-ip-spoofing prio=1000', [
        counter(3, 138),
        { drop: null },
      ]),
      // one XML rule written as two nft rules (variable combinations): one counter
      rule('virtwall_nwf', `${S}_to`, 'allow-arp prio=500', [{ match: {} }, counter(1, 10), { accept: null }]),
      rule('virtwall_nwf', `${S}_to`, 'allow-arp prio=500', [{ match: {} }, counter(2, 20), { accept: null }]),
      rule('virtwall_nwf', 'prerouting', 'from port from_port_g1', [counter(99, 9900), { vmap: {} }]),
      rule('virtwall_nwf', `${S}_host`, 'f/log-only prio=10', [counter(4, 40), { log: {} }]),
      rule('filter', `${S}_from`, 'clean-traffic prio=1', [counter(1000, 1), { drop: null }]),
    );
    assert.deepEqual(ruleCounters(text), [
      {
        family: 'bridge',
        shape: S,
        chain: 'from_ipv4_ip',
        path: 'clean-traffic/no-ip-spoofing',
        priority: 500,
        verdict: 'return',
        packets: 7,
        bytes: 700,
      },
      {
        family: 'bridge',
        shape: S,
        chain: 'from_ipv4_ip',
        path: 'clean-traffic/no-ip-spoofing',
        priority: 1000,
        verdict: 'drop',
        packets: 3,
        bytes: 138,
      },
      {
        family: 'bridge',
        shape: S,
        chain: 'to',
        path: 'allow-arp',
        priority: 500,
        verdict: 'accept',
        packets: 3,
        bytes: 30,
      },
      {
        family: 'bridge',
        shape: S,
        chain: 'host',
        path: 'f/log-only',
        priority: 10,
        verdict: 'continue',
        packets: 4,
        bytes: 40,
      },
    ]);
  });
});

describe('drops from counter deltas', () => {
  const snap = (
    time: number,
    packets: number,
    ports = ['vnet0'],
    verdict: 'drop' | 'accept' = 'drop',
  ): CounterSnapshot => ({
    time,
    rules: [
      {
        family: 'bridge',
        shape: S,
        chain: 'from',
        path: 'clean-traffic/no-other-l2-traffic',
        priority: 1000,
        verdict,
        packets,
        bytes: packets * 60,
      },
    ],
    shapeOf: new Map(ports.map((p) => [p, S])),
    portsOf: new Map([[S, ports]]),
  });

  it('takes the first read as the baseline, then reports growth with the ports of the shape', () => {
    const log = new DropLog();
    assert.deepEqual(log.update(snap(1, 10)), []);
    assert.deepEqual(log.update(snap(2, 10)), []);
    assert.deepEqual(log.update(snap(3, 14, ['vnet0', 'vnet1'])), [
      {
        time: 3,
        shape: S,
        chain: 'from',
        path: 'clean-traffic/no-other-l2-traffic',
        priority: 1000,
        verdict: 'drop',
        packets: 4,
        ports: ['vnet0', 'vnet1'],
      },
    ]);
    // a counter that went down was reset (chains rewritten by a heal): a new baseline, no event
    assert.deepEqual(log.update(snap(4, 2)), []);
    assert.equal(log.update(snap(5, 3))[0]!.packets, 1);
    // accepts are not drops
    assert.deepEqual(log.update(snap(6, 100, ['vnet0'], 'accept')), []);
    assert.deepEqual(
      log.recent().map((d) => d.time),
      [5, 3],
    );
  });

  it('keeps the newest MAX_DROPS', () => {
    const log = new DropLog();
    for (let i = 0; i <= MAX_DROPS + 10; i++) log.update(snap(i, i));
    assert.equal(log.recent().length, MAX_DROPS);
    assert.equal(log.recent()[0]!.time, MAX_DROPS + 10);
  });
});

describe('metrics_listen and dashboard_listen', () => {
  const conf = (text: string) => daemonConfig(parseConf(text, 'virtwall.conf'));

  it('are off by default and take an address literal with a port', () => {
    assert.equal(conf('').metricsListen, undefined);
    assert.equal(conf('').dashboardListen, undefined);
    assert.deepEqual(conf('metrics_listen = "127.0.0.1:9465"').metricsListen, { host: '127.0.0.1', port: 9465 });
    assert.deepEqual(conf('dashboard_listen = "[::1]:9466"').dashboardListen, { host: '::1', port: 9466 });
    assert.equal(conf('metrics_listen = ""').metricsListen, undefined);
  });

  it('refuse names, missing or impossible ports, and anything else', () => {
    for (const v of [
      'localhost:9465',
      '127.0.0.1',
      '127.0.0.1:0',
      '127.0.0.1:70000',
      '999.0.0.1:9465',
      '::1:9465',
      '[::1]',
      '127.0.0.1:9465\\nx',
      '0.0.0.0:9465 ',
    ]) {
      assert.throws(
        () => conf(`metrics_listen = "${v}"`),
        (e: VirtwallError) => /metrics_listen/.test(e.message),
        v,
      );
    }
    assert.throws(() => conf('metrics_listen = 9465'), /expects a string/);
  });
});

describe('read-only requests', () => {
  const req = (headers: Record<string, string>, method = 'GET') => ({ method, headers }) as unknown as IncomingMessage;
  const status = (headers: Record<string, string>, method?: string) => {
    try {
      checkReadOnly(req(headers, method), 9466);
      return 200;
    } catch (e) {
      return (e as RefusedRequest).status;
    }
  };

  it('answers reads by address literal or localhost on its port, from no page or its own', () => {
    assert.equal(status({ host: '127.0.0.1:9466' }), 200);
    assert.equal(status({ host: '[::1]:9466' }), 200);
    assert.equal(
      status({ host: 'LOCALHOST:9466', 'sec-fetch-site': 'same-origin', origin: 'http://LOCALHOST:9466' }),
      200,
    );
    assert.equal(status({ host: '192.0.2.7:9466', 'sec-fetch-site': 'none' }), 200);
    assert.equal(status({ host: '127.0.0.1:9466' }, 'HEAD'), 200);
  });

  it('refuses writes, other names (DNS rebinding), other ports and other sites', () => {
    assert.equal(status({ host: '127.0.0.1:9466' }, 'POST'), 405);
    assert.equal(status({ host: 'rebind.example:9466' }), 421);
    assert.equal(status({ host: 'localhost.example:9466' }), 421);
    assert.equal(status({ host: '127.0.0.1' }), 421);
    assert.equal(status({}), 421);
    assert.equal(status({ host: '127.0.0.1:9466', 'sec-fetch-site': 'cross-site' }), 403);
    assert.equal(status({ host: '127.0.0.1:9466', 'sec-fetch-site': 'same-site' }), 403);
    assert.equal(status({ host: '127.0.0.1:9466', origin: 'http://127.0.0.1:9467' }), 403);
    assert.equal(status({ host: '127.0.0.1:9466', origin: 'null' }), 403);
  });
});

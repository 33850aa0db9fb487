// /metrics of a real daemon in a namespace with bound ports, a DHCP lease and spoofed traffic:
// checked by Prometheus' own promtool (format and naming lint) and read with a Prometheus text
// parser; the listener answers only same-site reads.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../src/util/wait-for.js';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { canUseNetns } from '../support/netns.js';
import { cli, cliOk, daemonFixture, nft, startDaemon, stopAll, waitForLog } from '../daemon/process.js';
import { virsh } from '../rpc/clients.js';
import { A, B, DASHBOARD_PORT, fetchIn, METRICS_PORT, observedHost, sendSpoofed, SPOOFED } from './scenario.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const URL_ = `http://127.0.0.1:${METRICS_PORT}/metrics`;

type Family = {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; count?: string }[];
};

/** A scrape: families by name, and the text (histograms are read from it: see observations()). */
type Scrape = Map<string, Family> & { text?: string };

/** The exposition as families by name; promtool must accept it first (format and lint). */
function scrape(ns: string): Scrape {
  const r = fetchIn(ns, URL_);
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers, /content-type: text\/plain; version=0\.0\.4/i);
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: r.body, encoding: 'utf8' });
  assert.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);
  const m: Scrape = new Map((parsePrometheusTextFormat(r.body) as Family[]).map((f) => [f.name, f]));
  m.text = r.body;
  return m;
}

/**
 * A histogram's observation count (its `_count` series with exactly these labels). Read from the
 * text: the npm parser drops a labelled histogram's labels, sum and count.
 */
function observations(m: Scrape, name: string, labels: Record<string, string>): number {
  const text = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const found = m.text!.split('\n').filter((l) => l.startsWith(`${name}_count{${text}} `));
  assert.equal(found.length, 1, `${name}_count{${text}}`);
  return Number(found[0]!.split(' ').at(-1));
}

/** The values of `name`'s series whose labels include `labels`. */
function values(m: Scrape, name: string, labels: Record<string, string> = {}): number[] {
  const family = m.get(name);
  assert.ok(family, `no ${name}`);
  return family.metrics
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v))
    .map((s) => Number(s.value ?? s.count));
}
const one = (m: Scrape, name: string, labels: Record<string, string> = {}) => {
  const found = values(m, name, labels);
  assert.equal(found.length, 1, `${name}${JSON.stringify(labels)}: ${found.length} series`);
  return found[0]!;
};

describe('metrics', { skip }, () => {
  after(() => stopAll());

  it('exposes rule counters per shape and port, leases, learning, requests, reconciles, build info', async (t) => {
    const h = await observedHost(t);
    assert.equal(cli(h.root, ['net-info', 'nope']).status, 1);
    assert.equal(virsh(h.root, 'network', ['net-list']).status, 0);
    sendSpoofed(h);
    await new Promise((r) => setTimeout(r, 1100)); // the counters are read at most once a second
    // a port's shape comes from the dispatch maps, read again after the bindings change while the
    // last map serves (counters.ts): scraped until every bound port's shape has its rule counters
    let m = scrape(h.ns);
    const settled = (s: Scrape) =>
      (s.get('virtwall_nwfilter_port_info')?.metrics ?? []).every((p) =>
        (s.get('virtwall_nwfilter_rule_packets_total')?.metrics ?? []).some(
          (r) => r.labels?.['shape'] === p.labels?.['shape'],
        ),
      );
    await waitFor(
      () => {
        m = scrape(h.ns);
        return settled(m);
      },
      { what: "every port's shape with its rule counters", timeout: 5000 },
    );

    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    assert.equal(
      one(m, 'virtwall_build_info', { version, nwfilter_backend: 'nftables', network_backend: 'nftables' }),
      1,
    );
    // each port's own shape (different filters): its rule counters are the port's
    const shapeA = m.get('virtwall_nwfilter_port_info')!.metrics.find((s) => s.labels!['port'] === A.tap)!.labels![
      'shape'
    ]!;
    const shapeB = m.get('virtwall_nwfilter_port_info')!.metrics.find((s) => s.labels!['port'] === B.tap)!.labels![
      'shape'
    ]!;
    assert.match(shapeA, /^s[0-9a-f]{10}$/);
    assert.notEqual(shapeA, shapeB);
    assert.equal(one(m, 'virtwall_nwfilter_port_info', { port: A.tap, filter: A.filter }), 1);
    assert.equal(one(m, 'virtwall_nwfilter_shape_ports', { shape: shapeA }), 1);
    assert.equal(
      one(m, 'virtwall_nwfilter_rule_packets_total', {
        shape: shapeA,
        path: 'clean-traffic/no-ip-spoofing',
        priority: '1000',
        verdict: 'drop',
      }),
      SPOOFED.a,
    );
    assert.ok(
      one(m, 'virtwall_nwfilter_rule_bytes_total', {
        shape: shapeA,
        path: 'clean-traffic/no-ip-spoofing',
        priority: '1000',
        verdict: 'drop',
      }) >=
        SPOOFED.a * 46,
    );
    assert.equal(
      one(m, 'virtwall_nwfilter_rule_packets_total', {
        shape: shapeB,
        path: 'no-mac-spoofing',
        priority: '500',
        verdict: 'drop',
      }),
      SPOOFED.b,
    );
    // A's DHCP exchange passed its learned-address rules (returned to the accept)
    assert.ok(
      values(m, 'virtwall_nwfilter_rule_packets_total', { shape: shapeA, verdict: 'return' }).some((v) => v > 0),
    );
    assert.equal(one(m, 'virtwall_nwfilter_counters_up'), 1);

    assert.equal(one(m, 'virtwall_nwfilter_bindings', { filter: 'clean-traffic' }), 1);
    assert.equal(one(m, 'virtwall_nwfilter_bindings', { filter: 'no-mac-spoofing' }), 1);
    assert.equal(one(m, 'virtwall_network_ports', { network: 'obs', filter: 'clean-traffic' }), 1);
    assert.equal(one(m, 'virtwall_network_active', { network: 'obs' }), 1);
    assert.equal(one(m, 'virtwall_network_dhcp_leases', { network: 'obs' }), 1);
    assert.equal(one(m, 'virtwall_ip_learning_ports', { state: 'learned' }), 1);
    assert.equal(one(m, 'virtwall_ip_learning_ports', { state: 'learning' }), 0);

    assert.equal(
      one(m, 'virtwall_api_requests_total', { api: 'http', command: 'POST /networks/create', outcome: 'ok' }),
      1,
    );
    assert.equal(
      one(m, 'virtwall_api_requests_total', { api: 'http', command: 'GET /networks/{}', outcome: 'not-found' }),
      1,
    );
    assert.ok(
      one(m, 'virtwall_api_requests_total', { api: 'libvirt', command: 'CONNECT_LIST_ALL_NETWORKS', outcome: 'ok' }) >=
        1,
    );
    assert.equal(
      observations(m, 'virtwall_api_request_duration_seconds', { api: 'http', command: 'POST /networks/create' }),
      1,
    );
    assert.equal(one(m, 'virtwall_reconcile_total', { part: 'nwfilter', reason: 'start-up', outcome: 'intact' }), 1);
    assert.equal(observations(m, 'virtwall_reconcile_duration_seconds', { part: 'network' }), 1);

    // a foreign deletion of our table: healed, and counted as such
    assert.equal(nft(h.ns, 'delete table bridge virtwall_nwf').status, 0);
    await waitForLog(h.daemon, /"reason":"kernel change","repaired":\[/, 5000);
    const healed = scrape(h.ns);
    assert.equal(
      one(healed, 'virtwall_reconcile_total', { part: 'nwfilter', reason: 'kernel change', outcome: 'repaired' }),
      1,
    );
    assert.equal(one(healed, 'virtwall_heal_repairs_total', { kind: 'nwfilter_port' }), 2);
    cliOk(h.root, ['net-list']);
  });

  it('with the ebiptables backend: no rule counters, the rest served; a stop closes open event streams', async (t) => {
    const { lab, ns, root, file } = daemonFixture(t);
    mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
    writeFileSync(
      join(root, 'etc/virtwall/virtwall.conf'),
      `nwfilter_backend = "ebiptables"\nlibvirt_sockets = 0\nmetrics_listen = "127.0.0.1:${METRICS_PORT}"\ndashboard_listen = "[::1]:${DASHBOARD_PORT}"\n`,
    );
    const daemon = await startDaemon(ns, root);
    lab.exec(ns, ['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'g0']);
    cliOk(root, [
      'nwfilter-binding-create',
      file(
        'b.xml',
        "<filterbinding><owner><name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner><portdev name='vnet0'/><mac address='52:54:00:00:00:01'/><filterref filter='no-mac-spoofing'/></filterbinding>",
      ),
    ]);
    const m = scrape(ns);
    assert.equal(one(m, 'virtwall_build_info', { nwfilter_backend: 'ebiptables' }), 1);
    assert.equal(one(m, 'virtwall_nwfilter_bindings', { filter: 'no-mac-spoofing' }), 1);
    assert.equal(m.has('virtwall_nwfilter_rule_packets_total'), false);
    const state = JSON.parse(fetchIn(ns, `http://[::1]:${DASHBOARD_PORT}/state.json`).body) as {
      health: { countersError?: string };
      ports: { port: string }[];
    };
    assert.match(state.health.countersError ?? '', /ebiptables/);
    assert.deepEqual(
      state.ports.map((p) => p.port),
      ['vnet0'],
    );
    // an open page does not keep the daemon from stopping
    const stream = lab.spawn(ns, ['curl', '-sN', `http://[::1]:${DASHBOARD_PORT}/events`]);
    await new Promise((r) => stream.stdout!.once('data', r));
    daemon.child.kill('SIGTERM');
    const code = await Promise.race([daemon.exited, new Promise((r) => setTimeout(() => r('still running'), 5000))]);
    assert.equal(code, 0);
  });

  it('answers only same-site reads by address or localhost', async (t) => {
    const h = await observedHost(t);
    const status = (args: string[], url = URL_) => fetchIn(h.ns, url, args).status;
    assert.equal(status([]), 200);
    assert.equal(status(['-H', `Host: localhost:${METRICS_PORT}`]), 200);
    // DNS rebinding: a page whose own name now resolves to 127.0.0.1 sends its name
    assert.equal(status(['-H', `Host: attacker.example:${METRICS_PORT}`]), 421);
    assert.equal(status(['-H', 'Host: 127.0.0.1:80']), 421);
    assert.equal(status(['-H', 'Origin: http://attacker.example']), 403);
    assert.equal(status(['-H', 'Sec-Fetch-Site: cross-site']), 403);
    assert.equal(status(['-X', 'POST', '-d', '{}']), 405);
    assert.equal(status([], `http://127.0.0.1:${METRICS_PORT}/`), 404);
    const r = fetchIn(h.ns, URL_);
    assert.match(r.headers, /x-frame-options: DENY/i);
    assert.doesNotMatch(r.headers, /access-control-allow-origin/i);
  });
});

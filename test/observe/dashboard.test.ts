// The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a real
// daemon in a namespace: guests send spoofed frames, and the page, updated by server-sent events,
// shows each drop under the rule that dropped it, on the port it came from. A screenshot is kept
// in test-artifacts/ (git-ignored; its path is printed).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { canUseNetns } from '../support/netns.js';
import { stopAll } from '../daemon/process.js';
import { MAX_CONNECTIONS } from '../../src/observe/listener.js';
import { A, B, DASHBOARD_PORT, fetchIn, observedHost, sendSpoofed, SPOOFED } from './scenario.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = !canUseNetns() ? 'needs root and ip netns' : !existsSync(CHROMIUM) ? "needs Debian's chromium" : false;
const PAGE = `http://127.0.0.1:${DASHBOARD_PORT}/`;
const IP_SPOOF = 'clean-traffic/no-ip-spoofing prio=1000';
const MAC_SPOOF = 'no-mac-spoofing prio=500';

/** Opens N event streams at once (python3 in the namespace); prints how many were served and closed. */
const OPEN_STREAMS = `
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    s = socket.create_connection(('127.0.0.1', port))
    s.sendall(('GET /events HTTP/1.1\\r\\nHost: 127.0.0.1:%d\\r\\n\\r\\n' % port).encode())
    socks.append(s)
served = closed = 0
for s in socks:
    s.settimeout(5)
    try:
        data = s.recv(100)
    except OSError:
        data = b''
    if data: served += 1
    else: closed += 1
print('%d served, %d closed' % (served, closed))
`;

/** Chromium run inside `ns` (playwright talks to it over inherited pipes, which `ip netns exec` keeps). */
function chromiumIn(ns: string, t: { after: (f: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vwt-chromium-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const wrapper = join(dir, 'chromium');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return wrapper;
}

describe('dashboard', { skip }, () => {
  after(() => stopAll());

  it('shows each drop under its rule and port, live, with every asset from the daemon', async (t) => {
    const h = await observedHost(t);
    const browser = await chromium.launch({ executablePath: chromiumIn(h.ns, t), args: ['--no-sandbox'] });
    t.after(() => void browser.close());
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('request', (r) => !r.url().startsWith(PAGE) && problems.push(`request outside the daemon: ${r.url()}`));
    await page.goto(PAGE);
    await page.locator('#live.live').waitFor({ timeout: 5000 });
    assert.equal(await page.locator('#port-drops tr[data-rule]').count(), 0, 'no drops before the spoofing');
    assert.match(await page.locator('#health').innerText(), /nwfilter nftables, network nftables/);
    assert.match(
      await page.locator('#leases').innerText(),
      new RegExp(`obs\\s+${h.addressA.replace(/\./g, '\\.')}\\s+${A.mac}`),
    );

    sendSpoofed(h);
    const rowA = page.locator(`#port-drops tr[data-port="${A.tap}"][data-rule="${IP_SPOOF}"]`);
    const rowB = page.locator(`#port-drops tr[data-port="${B.tap}"][data-rule="${MAC_SPOOF}"]`);
    await rowA.waitFor({ timeout: 5000 });
    await rowB.waitFor({ timeout: 5000 });
    assert.equal(await rowA.locator('td.drop').innerText(), String(SPOOFED.a));
    assert.equal(await rowB.locator('td.drop').innerText(), String(SPOOFED.b));
    assert.match(await rowA.innerText(), /this port's own/);
    // A's drops only under A's rule, B's only under B's
    assert.equal(await page.locator(`#port-drops tr[data-port="${A.tap}"][data-rule="${MAC_SPOOF}"]`).count(), 0);
    assert.equal(await page.locator(`#port-drops tr[data-port="${B.tap}"][data-rule="${IP_SPOOF}"]`).count(), 0);

    // the last drops: sampled each second, so one burst may span two events; together they are all of it
    const dropped = async (port: string, rule: string) => {
      const texts = await page.locator(`#drops li[data-port="${port}"][data-rule="${rule}"]`).allInnerTexts();
      return texts.reduce((n, s) => n + Number(/dropped (\d+) packet/.exec(s)?.[1]), 0);
    };
    for (const t0 = Date.now(); (await dropped(A.tap, IP_SPOOF)) < SPOOFED.a && Date.now() - t0 < 5000; )
      await page.waitForTimeout(200);
    assert.equal(await dropped(A.tap, IP_SPOOF), SPOOFED.a);
    assert.equal(await dropped(B.tap, MAC_SPOOF), SPOOFED.b);
    assert.match(await page.locator('#drops li').first().innerText(), /rule .* on port vnet[ab] dropped \d+ packets?/);

    // the picture: both ports drawn under their network, A's with its drop count
    const portA = page.locator(`#topology g.port[data-port="${A.tap}"]`);
    assert.match((await portA.getAttribute('class')) ?? '', /dropping/);
    assert.equal(await portA.locator('text.count').textContent(), String(SPOOFED.a));
    assert.match(
      await page.locator('#topology svg').innerHTML(),
      /obs \(vwobs0\)[\s\S]*clean-traffic[\s\S]*no-mac-spoofing/,
    );

    const dir = resolve('test-artifacts');
    mkdirSync(dir, { recursive: true });
    const shot = join(dir, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`# dashboard screenshot: ${shot}`);
    assert.deepEqual(problems, []);
  });

  it('refuses other sites and names, and has no write path', async (t) => {
    const h = await observedHost(t);
    const status = (path: string, args: string[] = []) => fetchIn(h.ns, `${PAGE.slice(0, -1)}${path}`, args).status;
    for (const path of ['/', '/state.json', '/dashboard.js']) assert.equal(status(path), 200, path);
    assert.equal(status('/events', ['-I']), 200, 'HEAD of the event stream ends');
    assert.equal(status('/state.json', ['-H', `Host: rebound.example:${DASHBOARD_PORT}`]), 421);
    assert.equal(status('/state.json', ['-H', 'Origin: http://attacker.example']), 403);
    assert.equal(status('/state.json', ['-H', `Origin: http://127.0.0.1:${DASHBOARD_PORT}`]), 200);
    assert.equal(status('/state.json', ['-H', 'Sec-Fetch-Site: same-site']), 403);
    for (const method of ['POST', 'PUT', 'DELETE']) assert.equal(status('/state.json', ['-X', method]), 405, method);
    assert.equal(status('/metrics'), 404);
    const page = fetchIn(h.ns, PAGE);
    assert.match(page.headers, /content-security-policy: default-src 'none'; script-src 'self'/i);
    assert.doesNotMatch(page.body, /https?:\/\//, 'the page loads nothing from elsewhere');
    // open event streams are capped: the connections past the cap are closed at once
    const streams = h.lab
      .exec(h.ns, ['python3', '-c', OPEN_STREAMS, String(DASHBOARD_PORT), String(MAX_CONNECTIONS + 8)])
      .stdout.trim();
    assert.equal(streams, `${MAX_CONNECTIONS} served, 8 closed`);
  });
});

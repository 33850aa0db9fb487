// The CLI's DaemonClient against a node:http server on a Unix socket, answering as the daemon
// does (src/daemon/http.ts: writeHead then end, so chunked; a stream of NDJSON lines): the
// request it sends, the answer it reads, and its words for a daemon that is not there or that
// closes the connection before answering.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonClient } from '../../src/cli/client.js';
import { VirtwallError } from '../../src/errors.js';
import { fakeDaemon } from './fake-daemon.js';

const root = mkdtempSync(join(tmpdir(), 'vwt-client-'));
const seen: { method?: string; url?: string; type?: string; body: string }[] = [];

describe('DaemonClient over the Unix socket', () => {
  let server: Server;
  before(async () => {
    server = await fakeDaemon(root, (req, body, res) => {
      seen.push({ method: req.method, url: req.url, type: req.headers['content-type'], body });
      if (req.url === '/gone') return req.socket.destroy();
      if (req.url === '/missing') {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: "no binding 'vnet9'", kind: 'not-found' }));
      }
      if (req.url === '/trace') {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write('{"n":1}\n{"n"');
        setTimeout(() => res.end(':2}\n{"n":"é"}\n'), 20);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ echo: JSON.parse(body), name: 'ré😀' }));
    });
  });
  after(() => {
    server.close();
    rmSync(root, { recursive: true, force: true });
  });

  const client = () => DaemonClient.forRoot(root);

  it('sends a JSON request and reads the JSON answer', async () => {
    assert.deepEqual(await client().call('POST', '/bindings', { xml: '<a/>' }), {
      echo: { xml: '<a/>' },
      name: 'ré😀',
    });
    assert.deepEqual(await client().call('GET', '/bindings/vnet0'), { echo: {}, name: 'ré😀' });
    assert.deepEqual(seen.slice(-2), [
      { method: 'POST', url: '/bindings', type: 'application/json', body: '{"xml":"<a/>"}' },
      { method: 'GET', url: '/bindings/vnet0', type: 'application/json', body: '{}' },
    ]);
  });

  it("an error answer is the daemon's error, with its kind", async () => {
    await assert.rejects(
      client().call('GET', '/missing'),
      (e: unknown) => e instanceof VirtwallError && e.kind === 'not-found' && e.message === "no binding 'vnet9'",
    );
  });

  it('says whether it could not connect or the daemon closed the connection before answering', async () => {
    await assert.rejects(
      DaemonClient.forRoot(join(root, 'nowhere')).call('GET', '/bindings'),
      /^VirtwallError: failed to connect to the daemon at .*nowhere\/run\/virtwall\/virtwall-sock: connect ENOENT/,
    );
    await assert.rejects(
      client().call('POST', '/gone', {}),
      /the daemon at .* closed the connection before answering POST \/gone \(it may have stopped or died; see its log\): socket hang up/,
    );
  });

  it('refuses a path that would break the request line', async () => {
    const before = seen.length;
    await assert.rejects(client().call('GET', '/bindings/a b\r\nx: y'), /unescaped characters/);
    assert.equal(seen.length, before, 'nothing sent');
  });

  it('hands on a streamed answer line by line as it comes', async () => {
    const lines: unknown[] = [];
    await client().stream(
      'POST',
      '/trace',
      {},
      (o) => lines.push(o),
      () => {},
    );
    assert.deepEqual(lines, [{ n: 1 }, { n: 2 }, { n: 'é' }]);
  });
});

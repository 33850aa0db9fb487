// src/cli/http-answer.ts: an HTTP/1.1 answer read from the bytes as they come, however the
// connection splits them: framed by content-length, by chunks, or by the close; UTF-8 split
// across pieces; malformed answers refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpAnswer } from '../../src/cli/http-answer.js';

/** Feeds `wire` in pieces of `size` bytes; returns the status, the body and whether it completed before the close. */
function read(wire: string, size: number, close = false): { status?: number; body: string; complete: boolean } {
  let body = '';
  const a = new HttpAnswer((t) => (body += t));
  const bytes = Buffer.from(wire, 'utf8');
  for (let i = 0; i < bytes.length; i += size) a.push(bytes.subarray(i, i + size));
  const complete = a.complete;
  if (close) a.end();
  return { status: a.status, body, complete: close ? a.complete : complete };
}

const BODY = '{"name":"ré😀"}';

describe('an HTTP/1.1 answer', () => {
  it('framed by content-length, in any pieces; bytes after it are not body', () => {
    const wire = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}junk`;
    for (const size of [1, 2, 3, 7, 1000])
      assert.deepEqual(read(wire, size), { status: 200, body: BODY, complete: true });
  });

  it('in chunks (with an extension and a trailer), in any pieces', () => {
    const [a, b] = [Buffer.from('{"name":"r'), Buffer.from('é😀"}')];
    const wire = `HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n${a.length.toString(16)};x=y\r\n{"name":"r\r\n${b.length.toString(16).toUpperCase()}\r\né😀"}\r\n0\r\nX-Trailer: 1\r\n\r\n`;
    for (const size of [1, 2, 5, 1000]) assert.deepEqual(read(wire, size), { status: 409, body: BODY, complete: true });
  });

  it('incomplete until the last chunk or the last byte of its length', () => {
    assert.equal(read('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n', 1).complete, false);
    assert.equal(read('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}', 1, true).complete, false);
  });

  it('framed by the close when it has neither', () => {
    assert.deepEqual(read(`HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n${BODY}`, 4, true), {
      status: 200,
      body: BODY,
      complete: true,
    });
    assert.equal(read(`HTTP/1.1 200 OK\r\n\r\n${BODY}`, 4).complete, false, 'not before the close');
  });

  it('an empty body by content-length 0 is complete at the end of the head', () => {
    assert.deepEqual(read('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n', 3), {
      status: 204,
      body: '',
      complete: true,
    });
  });

  it('refuses a malformed status line, length, coding or chunk', () => {
    const malformed = {
      'status line': 'HTTP/2 200 OK\r\n\r\n',
      'content-length': 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n',
      'transfer-encoding': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n',
      'chunk size': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'chunk end': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n',
    };
    for (const [what, wire] of Object.entries(malformed))
      assert.throws(() => read(wire, 1000), new RegExp(`malformed ${what}|unsupported ${what}`), what);
    const endless = new HttpAnswer(() => {});
    assert.throws(() => endless.push(Buffer.alloc(70 * 1024, 'a')), /no end of its head/);
  });
});

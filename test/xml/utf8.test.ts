// XML input must be proper UTF-8, as libxml2 requires: bad bytes are refused at their place,
// never turned into U+FFFD, whether they come from a file, stdin or an API body.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VirtwallError } from '../../src/errors.js';
import { parseXml } from '../../src/xml/dom.js';
import { decodeUtf8, findImproperUtf8 } from '../../src/xml/utf8.js';

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

describe('decodeUtf8', () => {
  it('decodes proper UTF-8 as Node does, a BOM and every plane included', () => {
    const text = '\uFEFF<a b="é€😀">ü\u0000</a>';
    assert.equal(decodeUtf8(Buffer.from(text, 'utf8')), text);
    assert.equal(findImproperUtf8(text), undefined);
  });

  it('keeps every byte of a bad sequence as U+DC80+byte, and the good text around it', () => {
    const cases: [number[], string][] = [
      [[0xff], '0xFF'], // never in UTF-8
      [[0x80], '0x80'], // a lone continuation byte
      [[0xc0, 0x80], '0xC0 0x80'], // overlong NUL
      [[0xe0, 0x80, 0x80], '0xE0 0x80 0x80'], // overlong
      [[0xed, 0xa0, 0x80], '0xED 0xA0 0x80'], // a UTF-16 surrogate encoded
      [[0xf4, 0x90, 0x80, 0x80], '0xF4 0x90 0x80 0x80'], // beyond U+10FFFF
      [[0xe2, 0x82], '0xE2 0x82'], // truncated
    ];
    for (const [bad, shown] of cases) {
      const text = decodeUtf8(bytes('x\né', bad, 'z€'));
      assert.ok(!text.includes('\uFFFD'), shown);
      assert.equal(text.slice(0, 3), 'x\né');
      assert.ok(text.endsWith('z€'), shown);
      assert.deepEqual(findImproperUtf8(text), { line: 2, col: 2, bytes: shown });
    }
  });
});

describe('parseXml refuses what is not proper UTF-8', () => {
  it("with libxml2's message, the file and line:col", () => {
    const text = decodeUtf8(bytes('<network>\n  <name>n', [0xe9], 't</name>\n</network>\n'));
    assert.throws(
      () => parseXml(text, 'net.xml'),
      (e: VirtwallError) => {
        assert.equal(e.kind, 'invalid-input');
        assert.equal(e.message, 'net.xml:2:10: Input is not proper UTF-8, indicate encoding ! Bytes: 0xE9');
        return true;
      },
    );
  });

  it('also a lone surrogate that came as a JSON \\u escape', () => {
    const text = JSON.parse('"<filter name=\'\\ud800\'/>"') as string;
    assert.throws(
      () => parseXml(text, 'api'),
      / api:1:15: Input is not proper UTF-8, indicate encoding ! Bytes: U\+D800$/,
    );
  });
});

describe('virtwall validate on a Latin-1 file', () => {
  it('exits 2 naming file, line and column (stdin too)', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vwt-utf8-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'latin1.xml');
    const doc = bytes(
      "<filter name='f'>\n  <rule action='accept' direction='in'>\n    <all comment='caf",
      [0xe9],
      "'/>\n  </rule>\n</filter>\n",
    );
    writeFileSync(file, doc);
    const r = spawnSync(process.execPath, ['bin/virtwall.js', 'validate', file], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stdout);
    assert.equal(r.stderr.trim(), `error: ${file}:3:22: Input is not proper UTF-8, indicate encoding ! Bytes: 0xE9`);
    const s = spawnSync(process.execPath, ['bin/virtwall.js', 'validate', '-'], { input: doc, encoding: 'utf8' });
    assert.equal(s.status, 2);
    assert.match(s.stderr, /:3:22: Input is not proper UTF-8/);
  });
});

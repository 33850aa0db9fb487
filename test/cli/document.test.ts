// The offline commands as a user runs them: `virtwall validate` and `virtwall format`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORPUS } from '../support/corpus.js';

const corpus = CORPUS;
const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/virtwall.js', ...args], { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'vwt-cli-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('virtwall validate / format', () => {
  it('detects each document type and accepts valid files', () => {
    const cases: [string, string][] = [
      [join(corpus, 'nwfilterxml2xmlin/example-1.xml'), 'valid network filter'],
      [join(corpus, 'virnwfilterbindingxml2xmldata/simple.xml'), 'valid network filter binding'],
      [join(corpus, 'networkxml2xmlin/nat-network.xml'), 'valid network'],
      [join(corpus, 'virnetworkportxml2xmldata/plug-network.xml'), 'valid network port'],
    ];
    for (const [path, expected] of cases) {
      const r = cli('validate', path);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(expected));
    }
  });

  it('names file, line:col, element and attribute and exits 2 on invalid input', () => {
    const bad = file(
      'bad.xml',
      "<filter name='f'>\n  <rule action='accept' direction='in'>\n    <tcp dstportstart='99999'/>\n  </rule>\n</filter>\n",
    );
    const r = cli('validate', bad);
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`${bad.replace(/[/.]/g, '\\$&')}:3:\\d+ <tcp> attribute 'dstportstart'`));
  });

  it('reports malformed XML with its position', () => {
    const r = cli('format', file('broken.xml', "<network>\n  <name>x</name>\n  <bridge name='a'\n</network>\n"));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /broken\.xml:\d+:\d+/);
  });

  it('rejects unknown document types and unreadable files with exit 2', () => {
    assert.equal(cli('validate', file('domain.xml', '<domain/>')).status, 2);
    assert.equal(cli('validate', join(dir, 'missing.xml')).status, 2);
  });

  it('checks the RelaxNG schema unless told not to', () => {
    // parses (libvirt's parser is lenient here) but the schema forbids the unknown attribute
    const odd = file(
      'odd.xml',
      "<filterbinding><owner><name>vm</name><uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid></owner><portdev name='vnet0' bogus='1'/><mac address='52:54:00:7b:35:93'/><filterref filter='clean-traffic'/></filterbinding>",
    );
    const strict = cli('validate', odd);
    assert.equal(strict.status, 2, strict.stdout + strict.stderr);
    assert.match(strict.stderr, /schema/);
    assert.equal(cli('validate', '--no-schema', odd).status, 0);
  });

  it('formats canonically, and drops illegal values with a warning only when asked', () => {
    const input = join(corpus, 'nwfilterxml2xmlin/tcp-test-invalid.xml');
    assert.equal(cli('format', input).status, 2);
    const lenient = cli('format', '--drop-invalid', input);
    assert.equal(lenient.status, 0, lenient.stderr);
    assert.match(lenient.stderr, /warning: .*tcp-test-invalid\.xml:\d+:\d+ <tcp> attribute '\w+'/);
    const again = cli('format', file('again.xml', lenient.stdout));
    assert.equal(again.stdout, lenient.stdout);
  });
});

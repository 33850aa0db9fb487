// src/daemon/parsed-bindings.ts: the binding records' definitions kept across restarts. A kept
// definition is the parser's own (the same value back), a record is taken from the kept file only
// for the very path and bytes it was parsed from, and a kept file that is corrupt, holds what the
// parser could not have made, or comes from other code changes nothing: every record is parsed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFilterBinding } from '../../src/conf/nwfilterbinding/index.js';
import { BindingService } from '../../src/daemon/bindings.js';
import { loadParsedBindings, recordKey, saveParsedBindings } from '../../src/daemon/parsed-bindings.js';
import { reportCorruptStateTo, type CorruptState } from '../../src/util/state-file.js';
import { waitFor } from '../../src/util/wait-for.js';
import { RecordingBackend, bindingXml } from './support.js';

const CORPUS = join(import.meta.dirname, '../corpus/virnwfilterbindingxml2xmldata');

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vwt-parsed-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A binding service over `dir/nwfilter-binding` holding `records` (file name -> XML), loaded. */
function load(dir: string, records: Record<string, string> = {}): BindingService {
  const bindings = join(dir, 'nwfilter-binding');
  mkdirSync(bindings, { recursive: true });
  for (const [name, xml] of Object.entries(records)) writeFileSync(join(bindings, name), xml);
  const service = new BindingService(bindings, new RecordingBackend());
  service.load();
  return service;
}

describe('kept parsed binding records', () => {
  it("give back the parser's own definitions", (t) => {
    const file = join(scratch(t), 'parsed.json');
    const docs = [
      ...readdirSync(CORPUS).map((f) => [join(CORPUS, f), readFileSync(join(CORPUS, f), 'utf8')] as const),
      [
        '/r/vnet7.xml',
        bindingXml(
          'vnet7',
          'clean-traffic',
          '52:54:00:00:00:07',
          "<parameter name='IP' value='10.0.0.7'/><parameter name='IP' value='10.0.0.8'/>",
        ),
      ] as const,
    ];
    const parsed = new Map(docs.map(([path, text]) => [recordKey(path, text), parseFilterBinding(text, path)]));
    assert.ok(parsed.size >= 3);
    saveParsedBindings(file, parsed);
    assert.deepEqual(loadParsedBindings(file), parsed);
  });

  it('are written after a start that parsed records, for the records there are', async (t) => {
    const dir = scratch(t);
    const bindings = join(dir, 'nwfilter-binding');
    const records = {
      'vnet1.xml': bindingXml('vnet1', 'clean-traffic'),
      'vnet2.xml': bindingXml('vnet2', 'clean-traffic'),
    };
    load(dir, records);
    await waitFor(() => existsSync(`${bindings}.parsed.json`), { what: 'the parsed records written' });
    assert.deepEqual(
      [...loadParsedBindings(`${bindings}.parsed.json`).keys()].sort(),
      Object.entries(records)
        .map(([name, xml]) => recordKey(join(bindings, name), xml))
        .sort(),
    );
  });

  it('serve a record only for the path and bytes it was parsed from', (t) => {
    const dir = scratch(t);
    const bindings = join(dir, 'nwfilter-binding');
    const before = bindingXml('vnet1', 'clean-traffic');
    const after = bindingXml('vnet1', 'no-mac-spoofing');
    // a kept definition saying something else than the record now says, under the old bytes' key
    saveParsedBindings(
      `${bindings}.parsed.json`,
      new Map([
        [recordKey(join(bindings, 'vnet1.xml'), before), parseFilterBinding(before, join(bindings, 'vnet1.xml'))],
      ]),
    );
    assert.equal(load(dir, { 'vnet1.xml': after }).get('vnet1').filter, 'no-mac-spoofing');
    // the same bytes under another path
    saveParsedBindings(
      `${bindings}.parsed.json`,
      new Map([[recordKey('/elsewhere/vnet1.xml', after), parseFilterBinding(before, '/elsewhere/vnet1.xml')]]),
    );
    assert.equal(load(scratch(t), { 'vnet1.xml': after }).get('vnet1').filter, 'no-mac-spoofing');
  });

  it('are used for the records they were parsed from', (t) => {
    const dir = scratch(t);
    const bindings = join(dir, 'nwfilter-binding');
    const xml = bindingXml('vnet1', 'clean-traffic');
    const path = join(bindings, 'vnet1.xml');
    // what only the kept file says (a parse would give 'clean-traffic'): proof that it was read
    const kept = { ...parseFilterBinding(xml, path), filter: 'kept-definition' };
    saveParsedBindings(`${bindings}.parsed.json`, new Map([[recordKey(path, xml), kept]]));
    assert.equal(load(dir, { 'vnet1.xml': xml }).get('vnet1').filter, 'kept-definition');
  });

  it('are set aside when corrupt or holding what the parser could not have made, and every record is parsed', (t) => {
    const seen: CorruptState[] = [];
    reportCorruptStateTo((c) => seen.push(c));
    const xml = bindingXml('vnet1', 'clean-traffic');
    for (const damage of [
      (text: string) => text.slice(0, 40),
      (text: string) => text.replace('52:54:00:00:00:01', '52:54:00:00:00:XY'),
      (text: string) => text.replace('52:54:00:00:00:01', '52:54:00:00:00:1'),
      (text: string) => text.replace('"vnet1"', '"vnet1;reboot"'),
      (text: string) => text.replace('11111111-2222-3333-4444-555555555555', 'not-a-uuid'),
      (text: string) => text.replace('"kept-definition"', '""'),
      (text: string) => text.replace('"portdev":', '"extra":1,"portdev":'),
      (text: string) => text.replace('"owner":{', '"owner":{"extra":1,'),
      (text: string) => text.replace('"params":[]', '"params":[["IP",["10.0.0.1;reboot"]]]'),
      (text: string) => text.replace('"params":[]', '"params":[["IP",[]]]'),
      (text: string) => text.replace('"params":[]', '"params":[["IP","10.0.0.1"]]'),
      (text: string) => text.replace('"line":1', '"line":"1"'),
      (text: string) => text.replace('"records":', '"extra":{},"records":'),
    ]) {
      const dir = scratch(t);
      const bindings = join(dir, 'nwfilter-binding');
      const path = join(bindings, 'vnet1.xml');
      const file = `${bindings}.parsed.json`;
      const kept = { ...parseFilterBinding(xml, path), filter: 'kept-definition' };
      saveParsedBindings(file, new Map([[recordKey(path, xml), kept]]));
      writeFileSync(file, damage(readFileSync(file, 'utf8')));
      const before = seen.length;
      assert.equal(load(dir, { 'vnet1.xml': xml }).get('vnet1').filter, 'clean-traffic', damage.toString());
      assert.equal(seen.length, before + 1, `set aside: ${damage.toString()}`);
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.includes('.corrupt-')).length,
        1,
        'moved aside as NAME.corrupt-TIMESTAMP',
      );
    }
  });

  it('of other code are not used, and not reported as corrupt', (t) => {
    const seen: CorruptState[] = [];
    reportCorruptStateTo((c) => seen.push(c));
    const dir = scratch(t);
    const bindings = join(dir, 'nwfilter-binding');
    const xml = bindingXml('vnet1', 'clean-traffic');
    const path = join(bindings, 'vnet1.xml');
    saveParsedBindings(
      `${bindings}.parsed.json`,
      new Map([[recordKey(path, xml), { ...parseFilterBinding(xml, path), filter: 'kept-definition' }]]),
    );
    const file = `${bindings}.parsed.json`;
    writeFileSync(file, readFileSync(file, 'utf8').replace(/"code":"[0-9a-f]+"/, '"code":"another"'));
    assert.equal(load(dir, { 'vnet1.xml': xml }).get('vnet1').filter, 'clean-traffic');
    assert.deepEqual(seen, []);
  });
});

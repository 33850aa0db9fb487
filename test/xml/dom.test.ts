// Well-formedness errors of the XML reader: libxml2's words (what libvirt reports, checked
// against libxml2 itself through libxml2-wasm) with the place given once, as file:line:col.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { XmlDocument } from 'libxml2-wasm';
import { parseXml } from '../../src/xml/dom.js';
import type { VirtwallError } from '../../src/errors.js';

/** libxml2's own message for a document it refuses. */
function libxml2Message(text: string): string {
  try {
    XmlDocument.fromString(text).dispose();
  } catch (err) {
    return (err as Error).message.trim();
  }
  throw new Error('libxml2 accepted the document');
}

describe('XML well-formedness errors', () => {
  for (const [what, text] of [
    ['a close tag that does not match', "<network>\n  <name>x</name>\n  <bridge name='b'></network>\n"],
    ['a document that ends inside an element', '<network>\n  <name>x</name>\n'],
  ] as const) {
    it(`names the tags as libxml2 does: ${what}`, () => {
      assert.throws(
        () => parseXml(text, 'net.xml'),
        (e: VirtwallError) => {
          assert.equal(e.detail, libxml2Message(text));
          assert.match(e.message, /^net\.xml:\d+:\d+: [A-Z]/, 'the place once, then the words');
          return true;
        },
      );
    });
  }
});

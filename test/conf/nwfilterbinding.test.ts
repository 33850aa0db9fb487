import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VirtwallError } from '../../src/errors.js';
import { formatFilterBinding, parseFilterBinding } from '../../src/conf/nwfilterbinding/index.js';

const binding = (parts: { owner?: string; portdev?: string; mac?: string; ref?: string; extra?: string }) =>
  `${[
    '<filterbinding>',
    parts.owner ?? '  <owner>\n    <name>vm</name>\n    <uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid>\n  </owner>',
    parts.portdev ?? "  <portdev name='vnet0'/>",
    parts.extra ?? '',
    parts.mac ?? "  <mac address='52:54:00:7b:35:93'/>",
    parts.ref ?? "  <filterref filter='clean-traffic'/>",
    '</filterbinding>',
  ]
    .filter((l) => l !== '')
    .join('\n')}\n`;

describe('filter bindings', () => {
  it('canonicalise the MAC, keep a link device and sort parameters', () => {
    const text = binding({
      mac: "  <mac address='52:54:0:7B:35:93'/>",
      extra: "  <linkdev name='eth0'/>",
      ref: "  <filterref filter='f'>\n    <parameter name='MAC' value='a'/>\n    <parameter name='IP' value='1.2.3.4'/>\n  </filterref>",
    });
    const def = parseFilterBinding(text);
    assert.equal(def.mac, '52:54:00:7b:35:93');
    assert.equal(def.linkdev, 'eth0');
    assert.deepEqual(
      [...def.params.entries()],
      [
        ['MAC', ['a']],
        ['IP', ['1.2.3.4']],
      ],
    );
    assert.equal(
      formatFilterBinding(def),
      binding({
        extra: "  <linkdev name='eth0'/>",
        ref: "  <filterref filter='f'>\n    <parameter name='IP' value='1.2.3.4'/>\n    <parameter name='MAC' value='a'/>\n  </filterref>",
      }),
    );
  });

  it('reject missing or malformed parts, naming where', () => {
    const cases: [string, string, string | undefined, RegExp][] = [
      [binding({ portdev: '  <portdev/>' }), 'portdev', 'name', /no port dev name/],
      [binding({ mac: "  <mac address='52:54:00:7b:35'/>" }), 'mac', 'address', /unable to parse MAC/],
      [binding({ ref: '  <filterref/>' }), 'filterref', 'filter', /no filter reference/],
      [
        binding({ owner: '  <owner>\n    <name>vm</name>\n    <uuid>xyz</uuid>\n  </owner>' }),
        'uuid',
        undefined,
        /unable to parse UUID/,
      ],
      [
        binding({ owner: '  <owner>\n    <uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid>\n  </owner>' }),
        'owner',
        undefined,
        /no owner name/,
      ],
    ];
    for (const [text, element, attribute, message] of cases) {
      assert.throws(
        () => parseFilterBinding(text, 'b.xml'),
        (err: unknown) =>
          err instanceof VirtwallError &&
          err.kind === 'invalid-input' &&
          err.location.file === 'b.xml' &&
          err.location.line !== undefined &&
          err.location.element === element &&
          err.location.attribute === attribute &&
          message.test(err.message),
        `${element}: ${message}`,
      );
    }
  });
});

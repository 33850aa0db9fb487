import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VirtwallError } from '../../src/errors.js';
import { formatNetworkPort } from '../../src/conf/networkport/format.js';
import { parseNetworkPort } from '../../src/conf/networkport/parse.js';

const port = (body: string) => `<networkport>
  <uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>
  <owner><name>vm</name><uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid></owner>
${body}
</networkport>`;

describe('network ports', () => {
  it('require a MAC, located at the root when absent and at the attribute when bad', () => {
    assert.throws(
      () => parseNetworkPort(port(''), 'p.xml'),
      (e: unknown) => e instanceof VirtwallError && /no mac/.test(e.detail) && e.location.file === 'p.xml',
    );
    assert.throws(
      () => parseNetworkPort(port("<mac address='xx'/>"), 'p.xml'),
      (e: unknown) =>
        e instanceof VirtwallError &&
        e.location.element === 'mac' &&
        e.location.attribute === 'address' &&
        e.location.line === 4,
    );
  });

  it('check the plug type and what each plug needs', () => {
    const mac = "<mac address='52:54:00:00:00:01'/>";
    for (const [plug, message] of [
      ["<plug type='tap'/>", /Invalid value for attribute 'type'/],
      ["<plug type='bridge'/>", /bridge name/],
      ["<plug type='direct' dev='e' mode='wild'/>", /Invalid mode/],
      ["<plug type='hostdev-pci'/>", /PCI address/],
      ["<plug type='hostdev-pci'><address bus='0x100'/></plug>", /must be <= 0xFF/],
    ] as const) {
      assert.throws(
        () => parseNetworkPort(port(mac + plug)),
        (e: unknown) => e instanceof VirtwallError && message.test(e.detail),
        plug,
      );
    }
  });

  it('canonicalise the MAC and default a direct plug to vepa', () => {
    const out = formatNetworkPort(
      parseNetworkPort(port("<mac address='52:54:00:AA:BB:CC'/><plug type='direct' dev='eth0'/>")),
    );
    assert.match(out, /<mac address='52:54:00:aa:bb:cc'\/>/);
    assert.match(out, /<plug type='direct' dev='eth0' mode='vepa'\/>/);
  });
});

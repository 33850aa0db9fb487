// virtwall's firewalld definitions are libvirt's: every zone and policy file libvirt ships
// (vendored in libvirt-firewalld/) has a definition of the same name and kind with the same
// target, services, protocols, rules and ingress/egress zones, and there are no others.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { childElements, parseXml, textContent } from '../../src/xml/dom.js';
import { LIBVIRT_FIREWALLD_DEFINITIONS } from '../../src/host/firewalld-zones.js';

const DIR = join(import.meta.dirname, 'libvirt-firewalld');

/** The settings the XML file gives, in the addZone2 / addPolicy keys our definitions use. */
function settingsOf(file: string): { kind: string; name: string; settings: Record<string, string | string[]> } {
  const root = parseXml(readFileSync(join(DIR, file), 'utf8'), file);
  const values = (tag: string, attr: string) => childElements(root, tag).map((e) => e.attrs[attr]!);
  const settings: Record<string, string | string[]> = { short: textContent(childElements(root, 'short')[0]!).trim() };
  if (root.attrs.target) settings.target = root.attrs.target;
  const lists: [string, string, string][] = [
    ['services', 'service', 'name'],
    ['protocols', 'protocol', 'value'],
    ['ingress_zones', 'ingress-zone', 'name'],
    ['egress_zones', 'egress-zone', 'name'],
  ];
  for (const [key, tag, attr] of lists) if (values(tag, attr).length) settings[key] = values(tag, attr);
  const rules = childElements(root, 'rule').map(
    (r) => `rule priority="${r.attrs.priority}" ${childElements(r)[0]!.name}`,
  );
  if (rules.length) settings.rules_str = rules;
  return { kind: root.name, name: file.replace(/\.xml$/, ''), settings };
}

describe("libvirt's firewalld definitions", () => {
  it('match the files libvirt ships, one for one', () => {
    const files = readdirSync(DIR)
      .filter((f) => f.endsWith('.xml'))
      .sort();
    assert.equal(files.length, 5);
    const ours = new Map(LIBVIRT_FIREWALLD_DEFINITIONS.map((d) => [d.name, d]));
    assert.deepEqual([...ours.keys()].sort(), files.map((f) => f.replace(/\.xml$/, '')).sort());
    for (const file of files) {
      const theirs = settingsOf(file);
      const mine = ours.get(theirs.name)!;
      assert.equal(mine.kind, theirs.kind, file);
      const { description, ...rest } = mine.settings;
      assert.ok(typeof description === 'string' && description.length > 0, `${file}: no description`);
      assert.deepEqual(rest, theirs.settings, file);
    }
  });

  it('install zones before the policies that name them', () => {
    const order = LIBVIRT_FIREWALLD_DEFINITIONS.map((d) => d.name);
    for (const d of LIBVIRT_FIREWALLD_DEFINITIONS.filter((d) => d.kind === 'policy')) {
      for (const z of [...(d.settings.ingress_zones as string[]), ...(d.settings.egress_zones as string[])].filter(
        (z) => order.includes(z),
      )) {
        assert.ok(order.indexOf(z) < order.indexOf(d.name), `${d.name} before zone ${z}`);
      }
    }
  });
});

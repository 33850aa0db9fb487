// <vlan> (libvirt's netdev_vlan_conf.c): one or more tags, trunking, native VLAN.
import type { XmlElement } from '../../xml/dom.js';
import { childElements } from '../../xml/dom.js';
import type { XmlWriter } from '../../xml/writer.js';
import { parseUInt } from '../../util/strtol.js';
import { badInput, xpathProp } from '../xmlprops.js';
import type { Vlan } from '../network/types.js';

const NATIVE_MODES = ['tagged', 'untagged'] as const;

/** virNetDevVlanParse. */
export function parseVlan(el: XmlElement): Vlan {
  const tagEls = childElements(el, 'tag');
  if (tagEls.length === 0)
    throw badInput(el, "missing tag id - each <vlan> must have at least one <tag id='n'/> subelement");
  const vlan: Vlan = { trunk: tagEls.length > 1, tags: [] };
  for (const tagEl of tagEls) {
    const idText = xpathProp(tagEl, 'id');
    const id = idText === undefined ? undefined : parseUInt(idText);
    if (id === undefined) throw badInput(tagEl, 'missing or invalid vlan tag id attribute', 'id');
    if (id > 4095) throw badInput(tagEl, `vlan tag id ${id} too large (maximum 4095)`, 'id');
    const mode = xpathProp(tagEl, 'nativeMode');
    if (mode !== undefined) {
      if (vlan.nativeMode) throw badInput(tagEl, 'duplicate native vlan setting', 'nativeMode');
      if (!(NATIVE_MODES as readonly string[]).includes(mode))
        throw badInput(tagEl, `Attribute "nativeMode='${mode}'" is invalid`, 'nativeMode');
      vlan.nativeMode = mode as Vlan['nativeMode'];
      vlan.nativeTag = id;
    }
    vlan.tags.push(id);
  }
  const trunk = xpathProp(el, 'trunk');
  if (trunk !== undefined) {
    vlan.trunk = trunk.toLowerCase() === 'yes';
    if (!vlan.trunk) {
      if (vlan.tags.length > 1)
        throw badInput(
          el,
          `invalid "trunk='${trunk}'" in <vlan> - trunk='yes' is required for more than one vlan tag`,
          'trunk',
        );
      if (vlan.nativeMode)
        throw badInput(el, `invalid config - "trunk='no'" is not allowed with a native vlan id`, 'trunk');
      if (trunk.toLowerCase() !== 'no')
        throw badInput(el, `invalid "trunk='${trunk}'" in <vlan> - must be yes or no`, 'trunk');
    }
  }
  return vlan;
}

/** virNetDevVlanFormat. */
export function formatVlan(w: XmlWriter, vlan: Vlan | undefined): void {
  if (!vlan || vlan.tags.length === 0) return;
  w.element('vlan', [['trunk', vlan.trunk ? 'yes' : undefined]], (v) => {
    for (const id of vlan.tags)
      v.empty('tag', [
        ['id', id],
        ['nativeMode', vlan.nativeMode && vlan.nativeTag === id ? vlan.nativeMode : undefined],
      ]);
  });
}

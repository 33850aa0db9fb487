// <virtualport> (libvirt's netdev_vport_profile_conf.c). One table says, per <parameters>
// attribute, which port types accept it and how its value is read; parse, the "no extras"
// check and format all read it.
import type { XmlElement } from '../../xml/dom.js';
import { firstChild } from '../../xml/dom.js';
import type { XmlWriter } from '../../xml/writer.js';
import { parseUuid } from '../uuid.js';
import { badInput, parseCUInt, prop } from '../xmlprops.js';
import type { VirtualPortProfile } from '../network/types.js';

type PortType = NonNullable<VirtualPortProfile['type']>;
const PORT_TYPES: readonly PortType[] = ['802.1Qbg', '802.1Qbh', 'openvswitch', 'midonet'];

interface ParamSpec {
  attr: string;
  key: 'managerId' | 'typeId' | 'typeIdVersion' | 'instanceId' | 'interfaceId' | 'profileId';
  types: readonly PortType[];
  /** Numeric limit (values read as C unsigned ints, any base), or the value kind. */
  value: { max: number } | 'uuid' | 'profile';
}

/** In libvirt's output order. */
const PARAMS: readonly ParamSpec[] = [
  { attr: 'managerid', key: 'managerId', types: ['802.1Qbg'], value: { max: 0xff } },
  { attr: 'typeid', key: 'typeId', types: ['802.1Qbg'], value: { max: 0xffffff } },
  { attr: 'typeidversion', key: 'typeIdVersion', types: ['802.1Qbg'], value: { max: 0xff } },
  { attr: 'instanceid', key: 'instanceId', types: ['802.1Qbg'], value: 'uuid' },
  { attr: 'interfaceid', key: 'interfaceId', types: ['openvswitch', 'midonet'], value: 'uuid' },
  { attr: 'profileid', key: 'profileId', types: ['openvswitch', '802.1Qbh'], value: 'profile' },
];

/** libvirt keeps profileid in a 40-byte buffer. */
const PROFILE_ID_MAX = 39;

function readParam(el: XmlElement, spec: ParamSpec, text: string): string | number {
  if (spec.value === 'uuid') {
    const uuid = parseUuid(text);
    if (!uuid) throw badInput(el, `cannot parse ${spec.attr} parameter as a uuid`, spec.attr);
    return uuid;
  }
  if (spec.value === 'profile') {
    if (Buffer.byteLength(text) > PROFILE_ID_MAX) throw badInput(el, 'profileid parameter too long', spec.attr);
    return text;
  }
  const n = parseCUInt(text, 0);
  if (n === undefined) throw badInput(el, `cannot parse value of ${spec.attr} parameter`, spec.attr);
  if (n > spec.value.max) throw badInput(el, `value of ${spec.attr} out of range`, spec.attr);
  return n;
}

/** virNetDevVPortProfileParse; `requireType` for a network's own <virtualport>. */
export function parseVirtualPort(el: XmlElement, requireType: boolean): VirtualPortProfile {
  const profile: VirtualPortProfile = {};
  const typeText = prop(el, 'type');
  if (typeText !== undefined) {
    if (!(PORT_TYPES as readonly string[]).includes(typeText))
      throw badInput(el, `unknown virtualport type ${typeText}`, 'type');
    profile.type = typeText as PortType;
  } else if (requireType) {
    throw badInput(el, 'missing required virtualport type', 'type');
  }
  const params = firstChild(el, 'parameters');
  for (const spec of PARAMS) {
    const text = prop(params, spec.attr);
    if (text === undefined || !params) continue;
    (profile as Record<string, string | number>)[spec.key] = readParam(params, spec, text);
    if (profile.type && !spec.types.includes(profile.type) && (spec.key !== 'profileId' || text !== '')) {
      throw badInput(params, `${spec.attr} is not supported for ${profile.type} port profiles`, spec.attr);
    }
  }
  return profile;
}

/** virNetDevVPortProfileFormat: parameters the port type uses (all of them for an untyped one). */
export function formatVirtualPort(w: XmlWriter, profile: VirtualPortProfile | undefined): void {
  if (!profile) return;
  const type = profile.type;
  w.element('virtualport', [['type', type]], (v) => {
    const attrs = PARAMS.filter((p) => !type || p.types.includes(type)).map(
      (p) => [p.attr, profile[p.key] === '' ? undefined : profile[p.key]] as const,
    );
    if (attrs.some(([, value]) => value !== undefined)) v.empty('parameters', attrs);
  });
}

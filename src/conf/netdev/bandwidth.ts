// <bandwidth> (libvirt's netdev_bandwidth_conf.c): inbound/outbound rates shared by networks,
// portgroups and network ports.
import type { XmlElement } from '../../xml/dom.js';
import { firstChild } from '../../xml/dom.js';
import type { XmlWriter } from '../../xml/writer.js';
import { badInput, parseULongLong, prop } from '../xmlprops.js';
import type { Bandwidth, BandwidthRate } from '../network/types.js';

/** Rate attributes in libvirt's output order. */
const RATE_ATTRS = ['average', 'peak', 'floor', 'burst'] as const;

function parseRate(el: XmlElement): BandwidthRate {
  const rate: BandwidthRate = {};
  for (const name of RATE_ATTRS) {
    const text = prop(el, name);
    if (text === undefined) continue;
    const value = parseULongLong(text);
    if (value === undefined) throw badInput(el, `could not convert bandwidth ${name} value '${text}'`, name);
    rate[name] = value;
  }
  if (rate.average === undefined && rate.floor === undefined)
    throw badInput(el, 'Missing mandatory average or floor attributes');
  if ((rate.peak !== undefined || rate.burst !== undefined) && rate.average === undefined) {
    throw badInput(el, "'peak' and 'burst' require 'average' attribute");
  }
  return rate;
}

export interface ParsedBandwidth {
  bandwidth?: Bandwidth;
  /** classID= (network ports only). */
  classId?: number;
}

/** virNetDevBandwidthParse; `floor` is accepted on <inbound> only when `allowFloor`. */
export function parseBandwidth(el: XmlElement, allowFloor: boolean, withClassId = false): ParsedBandwidth {
  const result: ParsedBandwidth = {};
  if (withClassId) {
    const text = prop(el, 'classID');
    if (text !== undefined) {
      const id = /^[0-9]+$/.test(text) ? Number(text) : NaN;
      if (!Number.isInteger(id) || id > 0xffffffff) throw badInput(el, `Unable to parse class id '${text}'`, 'classID');
      result.classId = id;
    }
  }
  const inbound = firstChild(el, 'inbound');
  const outbound = firstChild(el, 'outbound');
  const bw: Bandwidth = {};
  if (inbound) {
    bw.inbound = parseRate(inbound);
    if (bw.inbound.floor && !allowFloor)
      throw badInput(inbound, 'floor attribute is not supported for this config', 'floor');
  }
  if (outbound) {
    bw.outbound = parseRate(outbound);
    if (bw.outbound.floor) throw badInput(outbound, "'floor' attribute allowed only in <inbound> element", 'floor');
  }
  if (bw.inbound || bw.outbound) result.bandwidth = bw;
  return result;
}

function formatRate(w: XmlWriter, name: string, rate: BandwidthRate | undefined): void {
  if (!rate || !(rate.average || rate.floor)) return;
  w.empty(
    name,
    RATE_ATTRS.map((a) => [a, rate[a] || undefined] as const),
  );
}

/** virNetDevBandwidthFormat. */
export function formatBandwidth(w: XmlWriter, bw: Bandwidth | undefined, classId?: number): void {
  if (!bw) return;
  w.element('bandwidth', [['classID', classId || undefined]], (b) => {
    formatRate(b, 'inbound', bw.inbound);
    formatRate(b, 'outbound', bw.outbound);
  });
}

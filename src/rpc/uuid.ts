// UUIDs on the wire are 16 bytes (remote_uuid); virtwall keeps them as canonical text.
export const uuidBytes = (uuid: string): Buffer => Buffer.from(uuid.replace(/-/g, ''), 'hex');

export function uuidText(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A network as libvirt's remote_nonnull_network. */
export const netRef = (def: { name: string; uuid: string }) => ({ name: def.name, uuid: uuidBytes(def.uuid) });

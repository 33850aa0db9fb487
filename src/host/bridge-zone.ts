// The firewalld zone of a network's bridge, chosen as libvirt's networkAddFirewallRules does:
// the <bridge zone> named (refused when firewalld is not running; firewalld's own error for an
// unknown zone), else with firewalld running 'libvirt-routed' for routed networks and 'libvirt'
// for the others, except mode 'open' which gets a zone only when one is named. Without firewalld
// and without a named zone, no zone.
import { VirtwallError } from '../errors.js';
import type { NetworkDef } from '../conf/network/types.js';
import type { Firewalld } from './firewalld.js';
import { installMissingDefinitions } from './firewalld-zones.js';

const at = { element: 'bridge', attribute: 'zone' };

/** A named zone needs firewalld running: checked before anything of the network is created. */
export async function checkZoneRequest(def: NetworkDef, fw: Firewalld | undefined): Promise<void> {
  const named = def.bridge.zone;
  if (named !== undefined && !(fw && (await fw.registered()))) {
    throw new VirtwallError(
      'operation-failed',
      `zone ${named} requested for network ${def.name} but firewalld is not active`,
      at,
    );
  }
}

/** The zone the bridge should be in, or undefined for none (firewalld absent, or mode 'open'). */
export async function bridgeZone(def: NetworkDef, fw: Firewalld | undefined): Promise<string | undefined> {
  if (def.bridge.zone !== undefined) {
    await checkZoneRequest(def, fw);
    return def.bridge.zone;
  }
  if (!fw || def.forward.mode === 'open' || !(await fw.registered())) return undefined;
  // libvirt expects its package to have installed these; virtwall adds what is missing
  await installMissingDefinitions(fw);
  if (
    def.forward.mode === 'route' &&
    (await fw.policies()).includes('libvirt-routed-out') &&
    (await fw.zones()).includes('libvirt-routed')
  )
    return 'libvirt-routed';
  if ((await fw.zones()).includes('libvirt')) return 'libvirt';
  throw new VirtwallError(
    'operation-failed',
    `firewalld can't find the 'libvirt' zone that should have been installed with libvirt`,
  );
}

/** Puts the bridge in its zone; returns the zone set (undefined: none). */
export async function setBridgeZone(
  def: NetworkDef,
  bridge: string,
  fw: Firewalld | undefined,
): Promise<string | undefined> {
  const zone = await bridgeZone(def, fw);
  if (zone === undefined || !fw) return undefined;
  try {
    await fw.setZone(bridge, zone);
  } catch (err) {
    throw new VirtwallError(
      'operation-failed',
      err instanceof VirtwallError ? err.detail : (err as Error).message,
      def.bridge.zone !== undefined ? at : {},
    );
  }
  return zone;
}

/**
 * Takes the bridge out of its zone when firewalld runs (it keeps interface names in zones after
 * the device is gone, and a later network of the same bridge name may want no zone).
 */
export async function unsetBridgeZone(bridge: string, fw: Firewalld): Promise<void> {
  if (await fw.registered().catch(() => false)) await fw.unsetZone(bridge).catch(() => undefined);
}

/** Puts bridges back in the zones recorded for them where firewalld lost that (reload, restart); returns those moved. */
export async function restoreBridgeZones(
  bridges: readonly { bridge: string; zone: string }[],
  fw: Firewalld,
): Promise<{ bridge: string; zone: string; error?: string }[]> {
  if (bridges.length === 0 || !(await fw.registered().catch(() => false))) return [];
  const restored: { bridge: string; zone: string; error?: string }[] = [];
  for (const { bridge, zone } of bridges) {
    try {
      if ((await fw.zoneOf(bridge)) === zone) continue;
      await fw.setZone(bridge, zone);
      restored.push({ bridge, zone });
    } catch (err) {
      restored.push({ bridge, zone, error: (err as Error).message });
    }
  }
  return restored;
}

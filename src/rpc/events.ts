// Network lifecycle events for libvirt clients (CONNECT_NETWORK_EVENT_REGISTER_ANY): each
// registration watches the Daemon's network events and sends NETWORK_EVENT_LIFECYCLE messages
// (libvirt's remote_network_event_lifecycle_msg) to its connection until it is deregistered or
// the connection closes.
import { NETWORK_EVENTS } from '../daemon/events.js';
import { CODE, DOMAIN, libvirtError } from './errors.js';
import { T } from './remote-types.js';
import type { Session } from './session.js';
import { netRef } from './uuid.js';
import { encode } from './xdr.js';

export const PROC_NETWORK_EVENT_LIFECYCLE = 315;

/** Callback IDs are unique in the daemon, from 1, as libvirt's virObjectEventState numbers them. */
let nextCallbackId = 1;

/** Starts sending the lifecycle events (of the network `uuid`, or all); returns the callback ID. */
export function watchNetworkEvents(s: Session, uuid?: string): number {
  const callbackID = nextCallbackId++;
  const stop = s.daemon.networkEvents.watch((e) => {
    if (uuid !== undefined && e.uuid !== uuid) return;
    s.sendMessage(
      PROC_NETWORK_EVENT_LIFECYCLE,
      encode(T.eventLifecycleMsg, { callbackID, net: netRef(e), event: NETWORK_EVENTS.indexOf(e.kind), detail: 0 }),
    );
  });
  s.callbacks.set(callbackID, stop);
  return callbackID;
}

export function unwatchNetworkEvents(s: Session, callbackID: number): void {
  const stop = s.callbacks.get(callbackID);
  if (!stop) throw libvirtError(CODE.internal, DOMAIN.rpc, `network event callback ${callbackID} not registered`);
  stop();
  s.callbacks.delete(callbackID);
}

/** A closing connection's registrations end with it. */
export function unwatchAll(s: Session): void {
  for (const stop of s.callbacks.values()) stop();
  s.callbacks.clear();
}

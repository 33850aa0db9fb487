// Lifecycle events of the daemon's objects, for whoever watches (libvirt's network events:
// `virsh net-event`). Emitted by the Daemon after an operation succeeded, whichever API asked.
import { EventEmitter } from 'node:events';

/** libvirt's virNetworkEventLifecycleType, in its order. */
export const NETWORK_EVENTS = ['defined', 'undefined', 'started', 'stopped'] as const;
export type NetworkEventKind = (typeof NETWORK_EVENTS)[number];

export interface NetworkEvent {
  kind: NetworkEventKind;
  name: string;
  uuid: string;
}

export class NetworkEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  emit(event: NetworkEvent): void {
    this.emitter.emit('network', event);
  }

  /** Calls `listener` for every event until the returned function is called. */
  watch(listener: (event: NetworkEvent) => void): () => void {
    this.emitter.on('network', listener);
    return () => this.emitter.off('network', listener);
  }
}

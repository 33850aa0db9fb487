// One client connection's state, as libvirt's remote daemon keeps it per client: which driver
// the socket serves, whether it is read-only, whether CONNECT_OPEN succeeded, the identity the
// client gave, its event callbacks.
import type { Daemon } from '../daemon/daemon.js';
import { DOMAIN, type Domain } from './errors.js';

/** The driver a socket serves: libvirt's modular daemons, one per driver. */
export type Driver = 'network' | 'nwfilter';

export const DRIVER_DOMAIN: Record<Driver, Domain> = { network: DOMAIN.network, nwfilter: DOMAIN.nwfilter };

export interface Session {
  readonly daemon: Daemon;
  readonly driver: Driver;
  /** Accepted on a -ro socket, or opened with VIR_CONNECT_RO. */
  readonly: boolean;
  /** CONNECT_OPEN succeeded. */
  open: boolean;
  /** CONNECT_SET_IDENTITY's parameters (logged with mutations). */
  identity: Record<string, unknown>;
  /** Sends an asynchronous MESSAGE (events) to this client. */
  sendMessage(proc: number, payload: Buffer): void;
  /** Network event callbacks: callbackID -> stop watching. */
  readonly callbacks: Map<number, () => void>;
  /** The client asked for keepalive (CONNECT_SUPPORTS_FEATURE PROGRAM_KEEPALIVE). */
  startKeepalive(): void;
  /** Closes the connection once the pending replies are out (CONNECT_CLOSE). */
  closeAfterReply(): void;
}

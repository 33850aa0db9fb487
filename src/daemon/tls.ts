// The daemon's network listener: HTTPS with mutual TLS in libvirt's layout (CA, server
// certificate and key; every client shows a certificate signed by that CA). There is no
// listener without authentication: a client without such a certificate never gets to HTTP.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VirtwallError } from '../errors.js';
import type { TlsListener } from './config.js';

function pem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new VirtwallError(
      'operation-failed',
      `listen_tls: cannot read the ${what} '${file}': ${(err as Error).message}`,
    );
  }
}

/** The HTTPS server of `tls` (not yet listening); an unfinished handshake ends after `handshakeMs`. */
export function tlsServer(
  tls: TlsListener,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  opts: { handshakeMs: number; maxConnections: number },
): Server {
  const server = createServer(
    {
      key: pem(tls.keyFile, 'server key'),
      cert: pem(tls.certFile, 'server certificate'),
      ca: pem(tls.caFile, 'CA certificate'),
      crl: tls.crlFile === undefined ? undefined : pem(tls.crlFile, 'certificate revocation list'),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      handshakeTimeout: opts.handshakeMs,
    },
    handler,
  );
  // connections still in the handshake are not yet the guard's: the kernel-level cap holds them
  server.maxConnections = opts.maxConnections;
  return server;
}

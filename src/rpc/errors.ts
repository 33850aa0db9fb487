// libvirt's errors (include/libvirt/virterror.h, src/util/virerror.c): the codes and domains the
// network and nwfilter daemons report, each code's message format, and ONE table that turns a
// virtwall error into the error libvirt reports for the same failure. The services already word
// their not-found errors as libvirt does ("Network not found: ..."); other messages get the
// code's prefix ("Requested operation is not valid: ...").
import { VirtwallError, type ErrorKind } from '../errors.js';

export const CODE = {
  internal: 1,
  noSupport: 3,
  noConnect: 5,
  invalidArg: 8,
  operationFailed: 9,
  xmlError: 27,
  operationDenied: 29,
  rpc: 39,
  noNetwork: 43,
  operationInvalid: 55,
  noNwfilter: 62,
  noNwfilterBinding: 101,
  noNetworkPort: 107,
} as const;
export type Code = (typeof CODE)[keyof typeof CODE];

export const DOMAIN = { none: 0, rpc: 7, domain: 20, network: 19, nwfilter: 33 } as const;
export type Domain = (typeof DOMAIN)[keyof typeof DOMAIN];

/** VIR_ERR_ERROR */
const LEVEL_ERROR = 2;

/** virErrorMsgStrings: how libvirt formats the message of each code (%s: the detail). */
const FORMAT: Record<Code, string> = {
  [CODE.internal]: 'internal error: %s',
  [CODE.noSupport]: 'this function is not supported by the connection driver: %s',
  [CODE.noConnect]: 'no connection driver available for %s',
  [CODE.invalidArg]: 'invalid argument: %s',
  [CODE.operationFailed]: 'operation failed: %s',
  [CODE.xmlError]: 'XML error: %s',
  [CODE.operationDenied]: 'operation forbidden: %s',
  [CODE.rpc]: '%s',
  [CODE.noNetwork]: 'Network not found: %s',
  [CODE.operationInvalid]: 'Requested operation is not valid: %s',
  [CODE.noNwfilter]: 'Network filter not found: %s',
  [CODE.noNwfilterBinding]: 'Network filter binding not found: %s',
  [CODE.noNetworkPort]: 'network port not found: %s',
};

/** An error as libvirt sends it (virNetMessageError's fields a client shows). */
export class LibvirtError extends Error {
  readonly level = LEVEL_ERROR;
  constructor(
    readonly code: Code,
    readonly domain: Domain,
    message: string,
  ) {
    super(message);
  }
}

/** The error libvirt raises with `code` and the detail `info`, formatted as libvirt does. */
export const libvirtError = (code: Code, domain: Domain, info: string): LibvirtError => new LibvirtError(code, domain, FORMAT[code].replace('%s', info));

/**
 * virtwall's errors as libvirt's, first match wins: a message already in a code's format keeps
 * it (the not-found errors of the services), otherwise the error kind decides.
 */
const FROM_VIRTWALL: readonly { kind: ErrorKind; code: Code; worded?: true }[] = [
  { kind: 'not-found', code: CODE.noNetwork, worded: true },
  { kind: 'not-found', code: CODE.noNwfilter, worded: true },
  { kind: 'not-found', code: CODE.noNwfilterBinding, worded: true },
  { kind: 'not-found', code: CODE.noNetworkPort, worded: true },
  { kind: 'not-found', code: CODE.operationInvalid },
  { kind: 'invalid-input', code: CODE.invalidArg, worded: true },
  { kind: 'invalid-input', code: CODE.xmlError },
  { kind: 'conflict', code: CODE.operationInvalid },
  { kind: 'operation-failed', code: CODE.operationFailed },
  { kind: 'internal', code: CODE.internal },
];

const prefixOf = (code: Code) => FORMAT[code].slice(0, FORMAT[code].indexOf('%s'));

/** Any failure of a procedure as the error to send; `domain` is the daemon's driver. */
export function toLibvirtError(err: unknown, domain: Domain): LibvirtError {
  if (err instanceof LibvirtError) return err;
  if (!(err instanceof VirtwallError)) return libvirtError(CODE.internal, domain, (err as Error)?.message ?? String(err));
  for (const row of FROM_VIRTWALL) {
    if (row.kind !== err.kind) continue;
    if (!row.worded) return libvirtError(row.code, domain, err.message);
    if (err.message.startsWith(prefixOf(row.code))) return new LibvirtError(row.code, domain, err.message);
  }
  return libvirtError(CODE.internal, domain, err.message);
}

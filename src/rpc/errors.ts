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
export const libvirtError = (code: Code, domain: Domain, info: string): LibvirtError =>
  new LibvirtError(code, domain, FORMAT[code].replace('%s', info));

/** Each code's message prefix: a service that words its message as libvirt does keeps that code. */
const PREFIXES = (Object.entries(FORMAT) as [string, string][])
  .map(([code, format]) => ({ code: Number(code) as Code, prefix: format.slice(0, format.indexOf('%s')) }))
  .filter((p) => p.prefix !== '');

/** The code of a virtwall error kind whose message is not worded as libvirt's. */
const CODE_OF_KIND: Record<ErrorKind, Code> = {
  'not-found': CODE.operationInvalid,
  'invalid-input': CODE.xmlError,
  conflict: CODE.operationInvalid,
  'operation-failed': CODE.operationFailed,
  internal: CODE.internal,
};

/** Any failure of a procedure as the error to send; `domain` is the daemon's driver. */
export function toLibvirtError(err: unknown, domain: Domain): LibvirtError {
  if (err instanceof LibvirtError) return err;
  if (!(err instanceof VirtwallError))
    return libvirtError(CODE.internal, domain, (err as Error)?.message ?? String(err));
  const worded = PREFIXES.find((p) => err.message.startsWith(p.prefix));
  if (worded) return new LibvirtError(worded.code, domain, err.message);
  return libvirtError(CODE_OF_KIND[err.kind], domain, err.message);
}

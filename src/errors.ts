// Structured errors: every failure virtwall reports carries a kind (which decides the exit
// code and, later, the HTTP status) and, for bad input, where in which file it was found.

export type ErrorKind =
  | 'invalid-input' // malformed or semantically invalid XML / arguments: exit code 2
  | 'not-found' // a referenced object does not exist
  | 'conflict' // the object exists already, or is in use
  | 'operation-failed' // a command or kernel operation failed
  | 'internal';

export interface SourceLocation {
  file?: string;
  line?: number;
  col?: number;
  element?: string;
  attribute?: string;
}

export function formatLocation(loc: SourceLocation): string {
  const parts: string[] = [];
  if (loc.file !== undefined) {
    let where = loc.file;
    if (loc.line !== undefined) where += `:${loc.line}${loc.col !== undefined ? `:${loc.col}` : ''}`;
    parts.push(where);
  } else if (loc.line !== undefined) {
    parts.push(`line ${loc.line}${loc.col !== undefined ? `:${loc.col}` : ''}`);
  }
  if (loc.element !== undefined) parts.push(`<${loc.element}>`);
  if (loc.attribute !== undefined) parts.push(`attribute '${loc.attribute}'`);
  return parts.join(' ');
}

export class VirtwallError extends Error {
  readonly kind: ErrorKind;
  readonly location: SourceLocation;
  /** The message without the location prefix. */
  readonly detail: string;

  constructor(kind: ErrorKind, detail: string, location: SourceLocation = {}) {
    const where = formatLocation(location);
    super(where ? `${where}: ${detail}` : detail);
    this.name = 'VirtwallError';
    this.kind = kind;
    this.detail = detail;
    this.location = location;
  }

  /** Same error with missing location fields filled in (e.g. the file name, known only to the caller). */
  withLocation(extra: SourceLocation): VirtwallError {
    return new VirtwallError(this.kind, this.detail, { ...extra, ...definedOnly(this.location) });
  }
}

function definedOnly(loc: SourceLocation): SourceLocation {
  return Object.fromEntries(Object.entries(loc).filter(([, v]) => v !== undefined)) as SourceLocation;
}

export function invalidInput(detail: string, location: SourceLocation = {}): VirtwallError {
  return new VirtwallError('invalid-input', detail, location);
}

export function exitCodeFor(err: unknown): number {
  return err instanceof VirtwallError && err.kind === 'invalid-input' ? 2 : 1;
}

/** Collects non-fatal findings (libvirt logs these as warnings and goes on). */
export interface Diagnostics {
  warn(detail: string, location?: SourceLocation): void;
}

export class DiagnosticList implements Diagnostics {
  readonly warnings: { detail: string; location: SourceLocation }[] = [];
  warn(detail: string, location: SourceLocation = {}): void {
    this.warnings.push({ detail, location });
  }
  format(): string[] {
    return this.warnings.map((w) => {
      const where = formatLocation(w.location);
      return where ? `${where}: ${w.detail}` : w.detail;
    });
  }
}

/** Diagnostics sink that drops everything, for callers that only want the result. */
export const ignoreDiagnostics: Diagnostics = { warn() {} };

// RelaxNG validation against libvirt's own schemas (shipped in schemas/), as
// `virsh nwfilter-define --validate` does. libxml2 (compiled to wasm) does the work; the
// schemas' <include href> are resolved next to the schema file.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { RelaxNGValidator, XmlDocument, XmlValidateError, type ErrorDetail } from 'libxml2-wasm';
import { xmlRegisterFsInputProviders } from 'libxml2-wasm/lib/nodejs.mjs';
import { invalidInput } from '../errors.js';

export const SCHEMA_DIR = fileURLToPath(new URL('../../schemas/', import.meta.url));

/** Root element name -> schema file. */
export const SCHEMA_FOR_ROOT: Readonly<Record<string, string>> = {
  filter: 'nwfilter.rng',
  filterbinding: 'nwfilterbinding.rng',
  network: 'network.rng',
  networkport: 'networkport.rng',
};

let providerRegistered = false;

/** Lets libxml2 read the schemas' <include href> files through node:fs. */
function registerSchemaProvider(): void {
  if (!providerRegistered) providerRegistered = xmlRegisterFsInputProviders();
}

const validators = new Map<string, RelaxNGValidator>();

function validatorFor(schema: string): RelaxNGValidator {
  let v = validators.get(schema);
  if (!v) {
    registerSchemaProvider();
    const doc = XmlDocument.fromString(readFileSync(join(SCHEMA_DIR, schema), 'utf8'), {
      url: join(SCHEMA_DIR, schema),
    });
    try {
      v = RelaxNGValidator.fromDoc(doc);
    } finally {
      doc.dispose();
    }
    validators.set(schema, v);
  }
  return v;
}

export interface SchemaViolation {
  message: string;
  line?: number;
  col?: number;
}

/**
 * Validates an XML document against the schema for its root element (or `schema` if given).
 * Returns the violations; an empty list means valid. Malformed XML is reported as one violation.
 */
export function validateAgainstSchema(text: string, rootName: string, file?: string): SchemaViolation[] {
  const schema = SCHEMA_FOR_ROOT[rootName];
  if (!schema) throw invalidInput(`no schema for root element <${rootName}>`, { file, element: rootName });
  const validator = validatorFor(schema);
  let doc: XmlDocument;
  try {
    doc = XmlDocument.fromString(text, { url: file ?? 'input.xml' });
  } catch (err) {
    return detailsOf(err);
  }
  try {
    validator.validate(doc);
    return [];
  } catch (err) {
    if (err instanceof XmlValidateError) return detailsOf(err);
    throw err;
  } finally {
    doc.dispose();
  }
}

function detailsOf(err: unknown): SchemaViolation[] {
  const details = (err as { details?: ErrorDetail[] }).details;
  if (!details?.length) return [{ message: (err as Error).message.trim() }];
  return details.map((d) => ({ message: d.message.trim(), line: d.line, col: d.col }));
}

/** Throws an invalid-input error naming the first violation, as `virsh ... --validate` refuses. */
export function assertSchemaValid(text: string, rootName: string, file?: string): void {
  const violations = validateAgainstSchema(text, rootName, file);
  if (violations.length === 0) return;
  const v = violations[0]!;
  const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : '';
  throw invalidInput(`does not validate against ${SCHEMA_FOR_ROOT[rootName]}: ${v.message}${more}`, {
    file,
    line: v.line,
    col: v.col,
    element: rootName,
  });
}

/**
 * What libvirt reports when `--validate` refuses a document (virXMLValidatorValidate): the
 * schema's path, then every libxml2 message on its own line. Undefined when the document is
 * valid or not well-formed (the parser reports that, as libvirt parses before validating).
 */
export function schemaFailure(text: string, rootName: string): string | undefined {
  const schema = SCHEMA_FOR_ROOT[rootName]!;
  const validator = validatorFor(schema);
  let doc: XmlDocument;
  try {
    doc = XmlDocument.fromString(text);
  } catch {
    return undefined;
  }
  try {
    validator.validate(doc);
    return undefined;
  } catch (err) {
    if (!(err instanceof XmlValidateError)) throw err;
    const messages = detailsOf(err)
      .map((d) => `${d.message}\n`)
      .join('');
    return `XML document failed to validate against schema: Unable to validate doc against ${join(SCHEMA_DIR, schema)}\n${messages}`;
  } finally {
    doc.dispose();
  }
}

// Offline commands on libvirt XML files: `validate` (detects the object type, reports warnings
// and errors, optionally checks libvirt's RelaxNG schema) and `format` (prints canonical XML).
// The parsers load only when one of them runs: every other command starts faster without them.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { DocumentParseOptions } from '../../conf/document.js';
import { DiagnosticList, VirtwallError } from '../../errors.js';
import { decodeUtf8 } from '../../xml/utf8.js';

export function readInput(file: string): string {
  try {
    return decodeUtf8(readFileSync(file === '-' ? 0 : file));
  } catch (err) {
    throw new VirtwallError(
      'invalid-input',
      `cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { file },
    );
  }
}

const DROP_INVALID_HELP =
  'drop illegal nwfilter attribute values with a warning, as libvirt before 11 did, instead of rejecting the filter';

function parseOptions(opts: { dropInvalid?: boolean }): DocumentParseOptions {
  return { invalidValues: opts.dropInvalid ? 'drop' : 'reject' };
}

export function registerDocumentCommands(program: Command): void {
  program
    .command('validate')
    .description('check a libvirt XML file (filter, filterbinding, network, networkport); exit 2 if invalid')
    .argument('<file>', "the XML file ('-' for standard input)")
    .option('--no-schema', "skip libvirt's RelaxNG schema check")
    .option('--drop-invalid', DROP_INVALID_HELP)
    .action(async (file: string, opts: { schema: boolean; dropInvalid?: boolean }) => {
      const text = readInput(file);
      const diag = new DiagnosticList();
      const { parseDocument } = await import('../../conf/document.js');
      const doc = parseDocument(text, file, diag, parseOptions(opts));
      for (const w of diag.format()) process.stderr.write(`warning: ${w}\n`);
      if (opts.schema) {
        // libxml2 (wasm) loads only when a schema is checked: every other command starts faster
        const { validateAgainstSchema } = await import('../../schema/relaxng.js');
        const violations = validateAgainstSchema(text, doc.kind.root, file);
        if (violations.length) {
          for (const v of violations)
            process.stderr.write(`error: ${file}:${v.line ?? 0}:${v.col ?? 0}: schema: ${v.message}\n`);
          process.exitCode = 2;
          return;
        }
      }
      process.stdout.write(
        `${file}: valid ${doc.kind.description}${diag.warnings.length ? ` (${diag.warnings.length} warning(s))` : ''}\n`,
      );
    });

  program
    .command('format')
    .description('print the canonical XML of a libvirt XML file, as dumpxml would')
    .argument('<file>', "the XML file ('-' for standard input)")
    .option('--drop-invalid', DROP_INVALID_HELP)
    .action(async (file: string, opts: { dropInvalid?: boolean }) => {
      const diag = new DiagnosticList();
      const { parseDocument } = await import('../../conf/document.js');
      const doc = parseDocument(readInput(file), file, diag, parseOptions(opts));
      for (const w of diag.format()) process.stderr.write(`warning: ${w}\n`);
      process.stdout.write(doc.kind.format(doc.def));
    });
}

// Where the daemon keeps learned addresses between runs: one JSON file, written atomically
// after every change so a crash never loses a lock or a lease nor leaves a torn file.
import { readFileSync } from 'node:fs';
import { VirtwallError } from '../errors.js';
import { writeFileAtomic } from '../network/lifecycle/leases.js';
import type { SavedLearning } from './manager.js';

export function saveLearning(file: string, saved: SavedLearning): void {
  writeFileAtomic(file, JSON.stringify(saved, null, 2) + '\n', 0o600);
}

/** The saved state, or an empty one when the file does not exist yet. */
export function loadLearning(file: string): SavedLearning {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, ports: [] };
    throw err;
  }
  let saved: SavedLearning;
  try {
    saved = JSON.parse(text) as SavedLearning;
  } catch {
    throw new VirtwallError('operation-failed', `learned address state '${file}' is not JSON`);
  }
  if (saved?.version !== 1 || !Array.isArray(saved.ports)) {
    throw new VirtwallError('operation-failed', `learned address state '${file}' has an unknown format`);
  }
  return saved;
}

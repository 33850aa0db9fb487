// The libvirt test data the suite reads: the copy vendored in test/corpus, or another copy laid
// out the same way named by VIRTWALL_CORPUS (e.g. a full libvirt tests/ folder).
import { resolve } from 'node:path';
import { DEFAULT_CORPUS } from '../../src/cli/commands/conformance.js';

export const CORPUS = resolve(process.env.VIRTWALL_CORPUS ?? DEFAULT_CORPUS);

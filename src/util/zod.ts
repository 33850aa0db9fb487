// The one import of zod: its functional API (zod/mini), with the error messages in English. The
// classic API's chained methods bring its whole ~750 KB bundle into every daemon start (~30 ms);
// this brings what the schemas use. Classic zod sets up the English messages by itself, zod/mini
// leaves that to the program: without it every message would be a bare "Invalid input".
// Import it whole (`import * as z`) but reach no namespace inside it (`z.core`, `z.locales`): the
// bundler then keeps all of it.
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
/** What parse() throws (zod/mini exports it only inside `core`). */
export { $ZodError } from 'zod/v4/core';

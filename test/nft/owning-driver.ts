// A process that holds one owning nft client (src/nft/owning-client.ts) in the network namespace
// it was started in, for tests in another process: reads one JSON request a line on stdin
// ({op: 'own' | 'apply' | 'check' | 'list' | 'nft' | 'other' | 'child', ...}), answers one JSON
// line on stdout.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Libnftables } from '../../src/nft/libnftables.js';
import { OwningNft } from '../../src/nft/owning-client.js';
import type { Batch } from '../../src/nft/batch.js';
import type { Family } from '../../src/nft/objects.js';

/** One request line: the arguments of the call its op names. */
type Request =
  | { op: 'own'; family: Family; table: string; create?: boolean }
  | { op: 'apply' | 'check'; batch: Batch; table: string }
  | { op: 'list'; family: Family; table: string }
  | { op: 'nft' | 'other'; argv: string[]; input?: string }
  | { op: 'child' };

const nft = OwningNft.open();
const lib = 'unavailable' in nft ? undefined : new Libnftables();
process.stdout.write(`${JSON.stringify('unavailable' in nft ? nft : { ready: true })}\n`);

async function answer(req: Request): Promise<unknown> {
  if ('unavailable' in nft) throw new Error(nft.unavailable);
  if (req.op === 'own') return nft.own(req.family, req.table, req.create);
  if (req.op === 'apply') return nft.apply(req.batch, req.table);
  if (req.op === 'check') return nft.check(req.batch, req.table);
  if (req.op === 'list') return (await nft.list(req.family, req.table))?.chains.size;
  // a command on the client's own context (the socket that owns the tables)
  if (req.op === 'nft') return nft.lib.run(req.argv, req.input);
  // the same on a second context in this process: another socket
  if (req.op === 'other') return lib!.run(req.argv, req.input);
  // a child that outlives us (as the daemon's dnsmasq does): its pid
  if (req.op === 'child') return spawn('sleep', ['600'], { detached: true, stdio: 'ignore' }).pid;
  throw new Error(`unknown op ${(req as { op: string }).op}`);
}

for await (const line of createInterface({ input: process.stdin })) {
  const out = await answer(JSON.parse(line)).then(
    (result) => ({ result }),
    (e: Error) => ({ error: e.message }),
  );
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

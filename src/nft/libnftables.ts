// The nft command run in this process through libnftables (koffi), on ONE long-lived context:
// the context's netlink socket lives as long as the daemon, so tables it owns (ownership.ts) stay
// changeable by every later command, which each separate `nft` process could not do. It is a
// CommandRunner for nft's argv, so NftCli (client.ts) drives it unchanged. Calls run one at a
// time (a context is not thread-safe) on koffi's worker thread, so the event loop keeps serving.
import { SerialQueue } from '../util/serial-queue.js';
import koffi, { type LibraryHandle } from 'koffi';
import { readdirSync, readlinkSync } from 'node:fs';
import type { CommandResult, CommandRunner } from '../exec/runner.js';
import { isNetlinkSocket, NETLINK_NETFILTER, setCloseOnExec } from '../netlink/socket.js';

type Fn = ReturnType<LibraryHandle['func']>;

/** nft's options that map to a libnftables output flag (nftables.h, NFT_CTX_OUTPUT_*). */
const OUTPUT_FLAGS: Readonly<Record<string, number>> = {
  '-a': 1 << 3,
  '--handle': 1 << 3,
  '-j': 1 << 4,
  '--json': 1 << 4,
  '-e': 1 << 5,
  '--echo': 1 << 5,
  '-t': 1 << 11,
  '--terse': 1 << 11,
};
const DRY_RUN = new Set(['-c', '--check']);

interface Lib {
  ctxNew(flags: number): unknown;
  run: Fn;
  bufferOutput(ctx: unknown): number;
  bufferError(ctx: unknown): number;
  output(ctx: unknown): string | null;
  error(ctx: unknown): string | null;
  setOutputFlags(ctx: unknown, flags: number): void;
  setDryRun(ctx: unknown, dry: boolean): void;
  mallocTrim: Fn;
}

/**
 * A call carrying or answering more text than this (a bulk bind, a redefinition, a listing) is
 * followed by malloc_trim: libnftables frees what it parsed and built for the call, but on
 * koffi's worker thread glibc keeps the freed pages in that thread's arena, and at 10,000 ports
 * they were ~90 MB of the daemon's RSS for good.
 */
const TRIM_ABOVE = 64 * 1024;

let lib: Lib | undefined;

function load(): Lib {
  if (lib) return lib;
  const so = koffi.load('libnftables.so.1');
  lib = {
    ctxNew: so.func('void *nft_ctx_new(uint32_t flags)'),
    run: so.func('int nft_run_cmd_from_buffer(void *ctx, const char *buf)'),
    bufferOutput: so.func('int nft_ctx_buffer_output(void *ctx)'),
    bufferError: so.func('int nft_ctx_buffer_error(void *ctx)'),
    output: so.func('const char *nft_ctx_get_output_buffer(void *ctx)'),
    error: so.func('const char *nft_ctx_get_error_buffer(void *ctx)'),
    setOutputFlags: so.func('void nft_ctx_output_set_flags(void *ctx, uint32_t flags)'),
    setDryRun: so.func('void nft_ctx_set_dry_run(void *ctx, bool dry)'),
    mallocTrim: koffi.load('libc.so.6').func('int malloc_trim(size_t pad)'),
  };
  return lib;
}

/** This process's open sockets, as `fd:inode`. */
function sockets(): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) out.add(`${fd}:${m[1]}`);
    } catch {
      // closed while listing (readdir's own descriptor)
    }
  }
  return out;
}

export class Libnftables implements CommandRunner {
  private readonly lib: Lib;
  private readonly ctx: unknown;
  /** The context's netlink socket (the descriptor nft_ctx_new opened): what ownership.ts sends on. */
  readonly fd: number;
  private readonly queue = new SerialQueue();
  /** Whether the last call listed (see TRIM_ABOVE). */
  private listed = false;

  /** Throws when libnftables cannot be loaded or its socket not told apart. */
  constructor() {
    this.lib = load();
    const before = sockets();
    this.ctx = this.lib.ctxNew(0);
    if (!this.ctx) throw new Error('nft_ctx_new failed');
    const opened = [...sockets()]
      .filter((s) => !before.has(s))
      .map((s) => Number(s.slice(0, s.indexOf(':'))))
      .filter((fd) => isNetlinkSocket(fd, NETLINK_NETFILTER));
    if (opened.length !== 1)
      throw new Error(`libnftables context: expected one new netfilter socket, found ${opened.length}`);
    this.fd = opened[0]!;
    // libmnl opens it without close-on-exec: a child (dnsmasq outlives us) would keep the socket,
    // and with it the ownership of our tables, after we exit
    setCloseOnExec(this.fd);
    this.lib.bufferOutput(this.ctx);
    this.lib.bufferError(this.ctx);
  }

  /**
   * Runs `work` when no other call uses the context (or its socket), alone. Everything that
   * talks on the socket goes through here: an answer read by the wrong caller would be lost.
   */
  exclusive<T>(work: () => Promise<T> | T): Promise<T> {
    return this.queue.run(work);
  }

  /** `nft [OPTIONS] COMMAND...` or `nft [OPTIONS] -f -` with `input` as the script. */
  run(argv: readonly string[], input?: string): Promise<CommandResult> {
    const call = nftCall(argv, input);
    if (typeof call === 'string') return Promise.resolve({ status: 64, stdout: '', stderr: `libnftables: ${call}` });
    return this.runCall(call);
  }

  /** One call nftCall made of an nft argv. */
  runCall(call: NftCall): Promise<CommandResult> {
    return this.exclusive(
      () =>
        new Promise<CommandResult>((resolve) => {
          this.lib.setOutputFlags(this.ctx, call.flags);
          this.lib.setDryRun(this.ctx, call.dryRun);
          this.lib.run.async(this.ctx, call.text, (err: Error | null, rc: number) => {
            const stdout = this.lib.output(this.ctx) ?? '';
            const stderr = err ? err.message : (this.lib.error(this.ctx) ?? '');
            // a listing fills nft's cache with the whole ruleset (set elements too), which the call
            // after it frees once the ruleset changed
            const listing = call.text.startsWith('list ');
            if (listing || this.listed || call.text.length + stdout.length > TRIM_ABOVE)
              // on a worker too: giving back a bulk's pages takes milliseconds
              this.lib.mallocTrim.async(0, () => {});
            this.listed = listing;
            resolve({ status: err || rc !== 0 ? 1 : 0, stdout, stderr });
          });
        }),
    );
  }
}

export interface NftCall {
  flags: number;
  dryRun: boolean;
  text: string;
}

/** An nft argv as one libnftables call, or why it cannot be one (another program, an option it lacks). */
export function nftCall(argv: readonly string[], input?: string): NftCall | string {
  if (argv[0] !== 'nft') return `runs nft only, not ${argv[0]}`;
  let flags = 0;
  let dryRun = false;
  let i = 1;
  let script: string | undefined;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    const a = argv[i]!;
    if (a === '-f' && argv[i + 1] === '-') {
      script = input ?? '';
      i++;
    } else if (OUTPUT_FLAGS[a] !== undefined) flags |= OUTPUT_FLAGS[a];
    else if (DRY_RUN.has(a)) dryRun = true;
    else return `nft option ${a} is not supported here`;
  }
  // `nft monitor` never ends: a process of its own
  if (argv[i] === 'monitor') return 'nft monitor runs as a process';
  return { flags, dryRun, text: script ?? `${argv.slice(i).join(' ')}\n` };
}

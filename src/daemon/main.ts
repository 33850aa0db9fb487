// `virtwall daemon`: loads the state of one root, serves the API on DIR/run/virtwall/virtwall-sock
// (mode 0600: root only) and optionally HTTPS with client certificates (tls.ts), keeps the kernel's nwfilter rules converged
// (SIGHUP: full reconcile; foreign nftables events: reconcile within a debounce), and leaves every
// kernel rule in place when it stops so a restart has no unfiltered moment. Running networks'
// firewall rules and dnsmasq are healed by the same reconcile (nftables' events include iptables-nft's).
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { pino, type Logger } from 'pino';
import { VirtwallError } from '../errors.js';
import { createNwfilterBackend, nftablesStampFile } from '../backends/nwfilter.js';
import { ownNwfilterTables } from '../backends/nftables/table-ownership.js';
import { NftablesBackend } from '../backends/nftables/backend.js';
import { SystemRunner } from '../exec/runner.js';
import { watchRuleset, type RulesetWatch } from '../nft/ruleset-watch.js';
import type { TouchedTables } from '../nft/monitor.js';
import { socketInUse } from '../util/socket-in-use.js';
import { Firewalld } from '../host/firewalld.js';
import { daemonConfig, parseConf, type DaemonConfig } from './config.js';
import { Daemon, type ReconcileOptions } from './daemon.js';
import { ConnectionGuard } from './connections.js';
import { apiHandler } from './http.js';
import { checkLayoutPrivate, ensureLayout, stateLayout, type StateLayout } from './layout.js';
import { tlsServer } from './tls.js';
import { startLibvirtSockets } from '../rpc/listeners.js';
import { isJournalStream, journalLine, notifyReady } from './systemd.js';
import { Telemetry, telemetryMetrics } from '../observe/telemetry.js';
import { packageVersion } from '../util/package-version.js';
import { Tracer } from '../observe/trace/tracer.js';
import { NftCli } from '../nft/client.js';
import { FAMILIES, TABLE } from '../backends/nftables/model.js';

const LEVELS = { 1: 'debug', 2: 'info', 3: 'warn', 4: 'error' } as const;
/**
 * Quiet time after a foreign kernel change before reconciling: a burst of changes (a script's
 * commands, milliseconds apart) heals once, and a lone one (`nft flush ruleset`) heals at once.
 */
const HEAL_DEBOUNCE_MS = 50;
/** Wait before watching again after the watch failed. */
const WATCH_RETRY_MS = 150;

export function loadConfig(layout: StateLayout): DaemonConfig {
  const text = existsSync(layout.config) ? readFileSync(layout.config, 'utf8') : '';
  return daemonConfig(parseConf(text, layout.config), layout.root);
}

function listen(server: Server, target: string | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (typeof target === 'string') server.listen(target, resolve);
    else server.listen(target.port, target.host, resolve);
  });
}

/** The log's destination: log_outputs' file, else stderr (JSON lines; under journald, its priority-prefixed lines). */
function logDestination(config: DaemonConfig) {
  if (config.logFile) return pino.destination({ dest: config.logFile, sync: true });
  if (isJournalStream(2)) return { write: (line: string) => void writeSync(2, journalLine(line)) };
  return pino.destination(2);
}

/** Runs until SIGTERM/SIGINT; resolves when stopped. */
export async function runDaemon(root: string): Promise<void> {
  const layout = stateLayout(root);
  checkLayoutPrivate(layout);
  const config = loadConfig(layout);
  const log: Logger = pino({ level: LEVELS[config.logLevel], base: { root } }, logDestination(config));
  if (await socketInUse(layout.socket)) throw new VirtwallError('conflict', `a daemon already serves ${layout.socket}`);
  // The API socket listens from the start: a request that comes while the daemon starts (a hook
  // during a restart) is held until the daemon serves, instead of finding no socket.
  ensureLayout(layout);
  rmSync(layout.socket, { force: true });
  let serve: RequestListener | undefined;
  const held: [IncomingMessage, ServerResponse][] = [];
  const guard = new ConnectionGuard(config.maxClients, config.idleTimeout * 1000, log);
  const servers: Server[] = [createServer((req, res) => (serve ? serve(req, res) : held.push([req, res])))];
  guard.watch(servers[0]!, { admin: true, event: 'connection' });
  // the socket is created root-only: no moment in which another user could connect; and under
  // its own name first, so the API's name appears only once it accepts connections
  const listening = `${layout.socket}.${process.pid}`;
  rmSync(listening, { force: true });
  const umask = process.umask(0o177);
  try {
    await listen(servers[0]!, listening);
  } finally {
    process.umask(umask);
  }
  chmodSync(listening, 0o600);
  renameSync(listening, layout.socket);
  const started = await startServices(root, layout, config, log).catch((err: unknown) => {
    // held requests learn why; nothing of ours is left listening
    for (const [, res] of held.splice(0)) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: `the daemon failed to start: ${(err as Error).message}`, kind: 'operation-failed' }),
      );
    }
    servers[0]!.close();
    rmSync(layout.socket, { force: true });
    throw err;
  });
  const { runner, daemon, backend, tables, firewalld, tracer, fleet, libvirt } = started;
  serve = apiHandler(daemon, log, tracer);
  for (const [req, res] of held.splice(0)) serve(req, res);
  writeFileSync(layout.pidFile, `${process.pid}\n`);

  if (config.tls) {
    const tls = tlsServer(config.tls, serve, {
      handshakeMs: config.idleTimeout * 1000,
      maxConnections: config.maxClients,
    });
    guard.watch(tls, { admin: false, event: 'secureConnection' });
    servers.push(tls);
    await listen(tls, config.tls);
  }
  // the read-only listeners' modules (metrics, dashboard) are loaded only when one is configured
  const observe =
    config.metricsListen || config.dashboardListen
      ? await (await import('../observe/listener.js')).startObserve(daemon, {
          metrics: config.metricsListen,
          dashboard: config.dashboardListen,
          build: {
            version: packageVersion(),
            nwfilterBackend: backend.name,
            networkBackend: config.networkFirewallBackend,
          },
          runner,
          portShapes: backend instanceof NftablesBackend ? () => backend.portShapes() : undefined,
          log,
          tracer,
        })
      : { close: async () => {} };

  const heal = (reason: string, opts: ReconcileOptions = {}) =>
    void daemon
      .serial(() => daemon.reconcile(reason, opts))
      .catch((err: Error) => log.error({ err: err.message }, 'reconcile failed'));
  process.on('SIGHUP', () => heal('SIGHUP', { force: true }));
  // ebtables and iptables are nft's too (their nf_tables variants): one watch serves every backend
  const watcher = watchNftables((tables) => heal('kernel change', { tables }), log);
  // a firewalld reload or restart drops bridges' zones and flushes iptables-nft/ebtables-nft chains
  await firewalld.watch((event) => {
    log.info({ event }, 'firewalld reloaded or restarted');
    heal(`firewalld ${event}`, { zones: true });
  });
  const timer =
    config.reconcileInterval > 0 ? setInterval(() => heal('periodic'), config.reconcileInterval * 1000) : undefined;
  // ready: serving, and kernel changes from now on are seen
  log.info(
    {
      socket: layout.socket,
      libvirtSockets: config.libvirtSockets,
      tls: config.tls && `${config.tls.host}:${config.tls.port}`,
      metrics: config.metricsListen,
      dashboard: config.dashboardListen,
      nwfilterBackend: backend.name,
      nwfilterTableOwnership: tables?.ownership,
      networkBackend: config.networkFirewallBackend,
    },
    'virtwalld ready',
  );
  await notifyReady().catch((err: Error) => log.error({ err: err.message }, 'readiness not sent to systemd'));

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'virtwalld stopping (kernel rules stay in place)');
      watcher.stop();
      firewalld.close();
      if (timer) clearInterval(timer);
      let open = servers.length + 3;
      const closed = () => --open === 0 && resolve();
      void (libvirt?.close() ?? Promise.resolve()).then(closed);
      void observe.close().then(closed);
      void (fleet?.stop() ?? Promise.resolve()).then(closed);
      for (const s of servers) s.close(closed);
      for (const s of servers) s.closeAllConnections();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await tracer?.closeAll();
  // the last stops' bridges are deleted before the daemon ends (a daemon's start deletes them too)
  await daemon.networks.settle();
  rmSync(layout.socket, { force: true });
  rmSync(layout.pidFile, { force: true });
}

/** Everything behind the API: the backends, the daemon's records brought back, the kernel reconciled with them. */
async function startServices(root: string, layout: StateLayout, config: DaemonConfig, log: Logger) {
  const runner = new SystemRunner();
  // where the kernel lets it, the nwfilter tables are owned by this process: no foreign flush touches them
  const tables =
    config.nwfilterBackend !== 'nftables'
      ? undefined
      : config.nwfilterTableOwner
        ? await ownNwfilterTables(nftablesStampFile(layout.run))
        : { ownership: 'none: nwfilter_table_owner = 0', unowned: [] };
  if (tables?.unowned.length)
    log.warn(
      { tables: tables.unowned },
      'nwfilter tables exist without ownership (created so before): foreign changes to them are healed; they are owned once recreated',
    );
  // the kernel is stamped only while no other process can change our tables
  const owned = tables?.nft && tables.unowned.length === 0 ? tables.nft : undefined;
  const backend = await createNwfilterBackend(runner, config.nwfilterBackend, {
    stateDir: layout.run,
    nft: tables?.nft,
    stamp: owned && { file: nftablesStampFile(layout.run), clock: owned, adopted: tables?.stamped },
  });
  const firewalld = new Firewalld();
  const telemetry = new Telemetry(config.metricsListen ? await telemetryMetrics() : undefined);
  const daemon = await Daemon.open({ layout, config, runner, backend, log, firewalld, telemetry });
  // live tracing (nftables only): the backend traces the ports of the sessions
  const tracer =
    backend instanceof NftablesBackend
      ? new Tracer({
          nft: tables?.nft ?? new NftCli(runner),
          trace: (ports) => backend.trace(ports),
          table: TABLE,
          families: FAMILIES,
          filter: (name) => daemon.filters.list().find((f) => f.name === name),
          log,
        })
      : undefined;
  // loaded only for a fleet: a single host never loads etcd's client
  const fleet = config.fleet && (await import('../fleet/start.js')).startFleet(daemon, config.fleet, layout, log);

  // libvirt's sockets: if one is another daemon's, the start fails and nothing of ours is left listening
  const libvirt = config.libvirtSockets ? await startLibvirtSockets(daemon, root, log) : undefined;
  return { runner, daemon, backend, tables, firewalld, tracer, fleet, libvirt };
}

/**
 * Calls `onChange` (debounced) with the tables touched, none known when any may have been,
 * whenever someone else changes the ruleset of this process's namespace (our own transactions are recognised by their process, src/nft/monitor.ts), read
 * in-process from nftables' netlink events (src/nft/ruleset-watch.ts). When the kernel's events
 * overrun the socket's buffer, events were lost: that counts as a change. A watch that fails is
 * started again, and as events may have been lost meanwhile, that counts as a change too.
 */
function watchNftables(onChange: (touched: TouchedTables) => void, log: Logger): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let watch: RulesetWatch | undefined;
  let stopped = false;
  // the tables touched since the last heal; undefined: any may have been
  let pending: Set<string> | undefined = new Set();
  const changed = (touched: TouchedTables) => {
    if (touched === undefined) pending = undefined;
    else for (const t of touched) pending?.add(t);
    clearTimeout(timer);
    timer = setTimeout(() => {
      const all = pending;
      pending = new Set();
      onChange(all);
    }, HEAL_DEBOUNCE_MS);
  };
  const again = (err: Error) => {
    if (stopped) return;
    log.warn({ err: err.message }, 'watching nftables events failed; watching again and reconciling');
    // the reconcile comes after the new watch started: changes in between are not lost
    setTimeout(() => {
      if (stopped) return;
      start();
      changed(undefined);
    }, WATCH_RETRY_MS);
  };
  const start = () => {
    try {
      watch = watchRuleset(changed, { onError: again });
    } catch (err) {
      again(err as Error);
    }
  };
  start();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      watch?.stop();
    },
  };
}

import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Catalog } from './catalog/catalog.js';
import { openSqliteStore } from './catalog/sqlite-store.js';
import type { AnyCatalogStore } from './catalog/store.js';
import type { EtcdStore } from './cluster/etcd-store.js';
import { registerClusterMetrics, registerLoadSyncMetrics } from './cluster/metrics.js';
import type { Config } from './config/load.js';
import { startDnsServer, type DnsServer } from './dns/server.js';
import { HealthManager } from './health/manager.js';
import { buildApp, type UiParts } from './http/app.js';
import { compileAllSchemas } from './http/lazy-schemas.js';
import { StatusHistory } from './catalog/status-history.js';
import { fdBudget, readOpenFileLimit } from './http/fd-budget.js';
import { createStrategyManager, type StrategyManager } from './lb/manager.js';
import { warmUpStrategies } from './lb/warm-up.js';
import { warmUpJsonParser } from './http/warm-up.js';
import { parseDuration } from './duration.js';
import { createLogger } from './logger.js';
import { createLbObserver } from './metrics/lb.js';
import { createMetrics, type Metrics } from './metrics/registry.js';
import { VERSION } from './version.js';
import { addReplicaHeaders } from './cluster/headers.js';

/** dist/ui beside this file's directory: the same path from src/server.ts (tsx) and dist/server.js. */
const DEFAULT_UI_DIR = fileURLToPath(new URL('../dist/ui/', import.meta.url));

export interface KonsulServer {
  readonly config: Config;
  readonly catalog: Catalog;
  readonly lb: StrategyManager;
  readonly health: HealthManager;
  readonly metrics: Metrics;
  readonly app: FastifyInstance;
  readonly dns: DnsServer | null;
  /** The bound HTTP port (the configured one may be 0). */
  readonly httpPort: number;
  /** Stops accepting, answers what is in flight, stops checks and closes the database. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Where the web UI's bundle is; default dist/ui of this checkout (what `npm run build` writes). */
  uiDir?: string;
  now?: () => number;
  random?: () => number;
}

/** Opens the catalog and starts every face on it. Whatever started is closed again if a later step fails. */
export async function startKonsul(config: Config, options: StartOptions = {}): Promise<KonsulServer> {
  const logger = options.logger ?? createLogger(config.log.level);
  const cleanups: (() => Promise<void>)[] = [];
  const unwind = async () => {
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((error: unknown) => logger.error({ err: error }, 'shutdown step failed'));
  };
  let listening = false;
  let closing = false;
  try {
    // etcd3 (gRPC, protobufjs) takes about a second to load: only cluster mode pays for it.
    const cluster = config.store.type === 'etcd' ? await import('./cluster/open.js') : null;
    const etcdStore: EtcdStore | null = cluster === null ? null : cluster.openEtcdStore(config.store, logger);
    const store: AnyCatalogStore =
      etcdStore ?? openSqliteStore(config.storage.dataDir, config.storage.file, config.storage.synchronous);
    const catalog = await Catalog.open(store, {
      checkDefaults: {
        interval: config.health.defaultInterval,
        timeout: config.health.defaultTimeout,
        maxPerInstance: config.health.maxChecksPerInstance,
      },
      maxWaiters: config.blocking.maxWaiters,
      tombstoneTtlMs: parseDuration(config.catalog.serviceTombstoneTtl)!,
      storageRetryMs: parseDuration(config.storage.retryInterval)!,
      onStorageHealth: (failure) => {
        if (failure === null) logger.info('the data file takes writes again; unstored check results are stored');
        else logger.error({ reason: failure.message }, `storage is failing: ${failure.message}`);
      },
      onListenerError: (error) =>
        logger.error({ err: error }, 'a catalog subscriber failed; the write itself was committed'),
      ...(options.now === undefined ? {} : { now: options.now }),
      ...(config.store.type === 'etcd' ? { catchUpTimeoutMs: parseDuration(config.store.etcd.requestTimeout)! } : {}),
      ...(config.store.type === 'etcd' ? { commitLingerMs: parseDuration(config.store.etcd.commitLinger)! } : {}),
    }).catch(async (error: unknown) => {
      await store.close();
      throw error;
    });
    cleanups.push(() => catalog.close());

    const metrics = createMetrics(catalog);
    const lbMetrics = createLbObserver(
      metrics.registry,
      (service) => service === '*' || catalog.service(service) !== undefined,
    );
    if (etcdStore !== null) registerClusterMetrics(metrics.registry, etcdStore);
    const lb = createStrategyManager(config.lb, {
      observer: lbMetrics,
      ...(options.random === undefined ? {} : { random: options.random }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    lbMetrics.ejectedInstances(() => lb.outliers.ejectedCounts());
    catalog.subscribe((event) => {
      if (event.kind === 'deregistered') lb.forgetInstance(event.instance.id);
      else if (event.kind === 'services-forgotten') lbMetrics.forgetServices(event.names);
    });
    // Pending ring/table builds run on setImmediate: stop them with the rest.
    cleanups.push(async () => lb.close());

    // In a cluster each check is run by one live node (health/ownership.ts); none until it joins.
    const node = cluster !== null && etcdStore !== null ? cluster.clusterNode(etcdStore, config.store, logger) : null;
    if (node !== null) cleanups.push(() => node.ledger.close());
    const health = new HealthManager({
      catalog,
      config: config.health,
      registry: metrics.registry,
      logger,
      ...(options.now === undefined ? {} : { now: options.now }),
      ...(node === null ? {} : { cluster: node.checks }),
    });
    if (config.health.enabled) health.start();
    cleanups.push(() => health.stop());

    const budget = fdBudget({
      openFileLimit: readOpenFileLimit(),
      maxConnections: config.http.maxConnections,
      fdReserve: config.http.fdReserve,
      healthProbes: config.health.enabled ? config.health.maxConcurrent : 0,
      dnsConnections: config.dns.enabled ? config.dns.maxConcurrent : 0,
    });
    // Start-up is one line: a limit that merely trims http.maxConnections is a field of it; only a
    // limit too small to work with earns a warning of its own.
    if (budget.starved && budget.constrainedBy !== null) {
      logger.warn(
        { maxConnections: budget.maxConnections, configured: config.http.maxConnections, reserved: budget.reserved },
        `HTTP connections limited to ${budget.maxConnections} by ${budget.constrainedBy}`,
      );
    }

    // The UI's timeline: status changes kept in memory, bounded by ui.historySize.
    let ui: UiParts | undefined;
    let dns: DnsServer | null = null;
    if (config.ui.enabled) {
      const history = new StatusHistory(config.ui.historySize);
      const now = options.now ?? Date.now;
      catalog.subscribe((event) => history.observe(event, now()));
      ui = { dir: options.uiDir ?? DEFAULT_UI_DIR, history, dns: () => dns };
    }

    const app = await buildApp({
      config,
      catalog,
      lb,
      health,
      metrics,
      logger,
      notReadyReason: () =>
        closing
          ? 'shutting down'
          : !catalog.isOpen
            ? 'the catalog is closed'
            : !listening
              ? 'listeners are starting'
              : catalog.storage.failure !== null
                ? `storage is failing: ${catalog.storage.failure.detail}`
                : null,
      ...(options.random === undefined ? {} : { random: options.random }),
      ...(options.now === undefined ? {} : { now: options.now }),
      shuttingDown: () => closing,
      maxConnections: budget.maxConnections,
      ...(ui === undefined ? {} : { ui }),
    });
    if (catalog.replicated) addReplicaHeaders(app, catalog);
    // Blocking queries are in-flight requests: answer them first so the close can finish.
    cleanups.push(async () => {
      const closed = app.close();
      catalog.releaseWaiters();
      await closed;
    });
    if (config.http.compileSchemas === 'startup') {
      // Fastify hands routes their (lazy) compilers when it becomes ready; compiling them all
      // before listening spares the first request of each route a stall of up to tens of ms.
      await app.ready();
      compileAllSchemas(app);
      // Likewise the ordering code, on a made-up service and a manager of its own.
      warmUpStrategies(config.lb);
      // And the JSON body parser's checks, which every write runs.
      warmUpJsonParser(app);
    }
    // A backlog of the connection limit (the kernel caps it at net.core.somaxconn): with Node's 511,
    // shed flood connections reconnecting at once overflowed it, the kernel dropped handshakes past
    // it, and a liveness probe among them waited a second per retry (docs/configuration.md).
    await app.listen({ host: config.http.host, port: config.http.port, backlog: Math.max(511, budget.maxConnections) });
    const address = app.server.address();
    const httpPort = typeof address === 'object' && address !== null ? address.port : config.http.port;

    if (config.dns.enabled) {
      dns = await startDnsServer({
        config: config.dns,
        catalog,
        lb,
        registry: metrics.registry,
        logger,
        // DNS carries no token: with reads protected over HTTP it warns unless dns.allowFrom is set.
        readsProtected: config.auth.protectReads && config.auth.token !== '',
      });
      const started = dns;
      cleanups.push(() => started.close());
    }
    let clusterLine = '';
    if (cluster !== null && etcdStore !== null && node !== null) {
      // Unwound first: the other nodes stop counting this one (and take its checks) before its faces close.
      cleanups.push(() => node.membership.stop());
      await cluster.joinCluster(etcdStore, node, {
        http: `${config.http.host}:${httpPort}`,
        dns: dns === null ? null : `${dns.host}:${dns.port}`,
      });
      const loads = await cluster.startLoadSync(etcdStore, config.store, node.name, lb, catalog, logger);
      registerLoadSyncMetrics(metrics.registry, loads);
      // Reports taken before the stop are still shared: one last flush, then the watch closes.
      cleanups.push(async () => {
        lb.onLocalReport = undefined;
        await loads.flush();
        await loads.close();
      });
      const view = etcdStore.cluster();
      clusterLine = `, cluster node ${node.name} of ${view.members.length} (etcd leader ${view.etcdLeader ?? 'unknown'})`;
    }
    listening = true;
    logger.info(
      {
        version: VERSION,
        http: `${config.http.host}:${httpPort}`,
        httpMaxConnections: budget.maxConnections,
        ...(budget.constrainedBy === null ? {} : { httpMaxConnectionsLimitedBy: budget.constrainedBy }),
        dns: dns === null ? 'disabled' : `${dns.host}:${dns.port} (udp+tcp, domain ${config.dns.domain})`,
        dataFile: catalog.location,
        index: catalog.index,
        instances: catalog.instanceCount,
        strategies: lb.enabled(),
        defaultStrategy: config.lb.default,
        ...(catalog.replicated ? { cluster: catalog.cluster() } : {}),
      },
      `konsul ${VERSION} listening on http ${config.http.host}:${httpPort}, dns ${dns === null ? 'disabled' : `${dns.host}:${dns.port}`}, data ${catalog.location}, strategies ${lb.enabled().join(',')}${clusterLine}`,
    );

    return {
      config,
      catalog,
      lb,
      health,
      metrics,
      app,
      dns,
      httpPort,
      async close() {
        if (closing) return;
        closing = true;
        // Reverse start order: faces first (stop accepting, drain), then checks, then the database.
        await unwind();
      },
    };
  } catch (error) {
    closing = true;
    await unwind();
    throw error;
  }
}

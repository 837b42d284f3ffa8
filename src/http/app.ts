import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Catalog } from '../catalog/catalog.js';
import type { StatusHistory } from '../catalog/status-history.js';
import type { Config } from '../config/load.js';
import { parseDuration } from '../duration.js';
import { Errors } from '../errors.js';
import type { HealthManager } from '../health/manager.js';
import type { StrategyManager } from '../lb/manager.js';
import type { Metrics } from '../metrics/registry.js';
import { createAuthHook } from './auth.js';
import { guardConnections } from './connection-guard.js';
import { connectionTimeouts } from './connection-timeouts.js';
import { clientErrorHandler, errorHandler } from './error-handler.js';
import { LazyChildLogger } from './lazy-child-logger.js';
import { loggedUrl } from './logged-url.js';
import { createWriteRateLimit } from './rate-limit.js';
import { catalogRoutes } from './routes/catalog.js';
import { checkRoutes } from './routes/checks.js';
import { consulRoutes } from './routes/consul.js';
import { maintenanceRoutes } from './routes/maintenance.js';
import { outcomeRoutes } from './routes/outcomes.js';
import { serviceConfigRoutes } from './routes/service-config.js';
import { shortRoutes } from './routes/short-routes.js';
import { metricsRoutes } from './routes/metrics.js';
import { probeRoutes } from './routes/probes.js';
import { uiApiRoutes, type DnsPreviewer } from './routes/ui-api.js';
import { uiStaticRoutes } from './routes/ui-static.js';
import { lazySchemas, useLazySchemas } from './lazy-schemas.js';
import { registerAnswerCacheMetrics } from './answer-cache-metrics.js';
import { JoinedAnswers } from './joined-answers.js';

export interface AppDependencies {
  config: Config;
  catalog: Catalog;
  lb: StrategyManager;
  health: HealthManager;
  metrics: Metrics;
  logger: Logger;
  /** Why the server cannot serve yet, or null when it can. */
  notReadyReason: () => string | null;
  /** Blocking-query jitter source, injectable for tests. */
  random?: () => number;
  /** Clock of the write rate limit, injectable for tests. */
  now?: () => number;
  /** True from the moment shutdown begins (before Fastify's own close hooks run). */
  shuttingDown?: () => boolean;
  /** HTTP connections held at once: http.maxConnections, lowered to fit the open-file limit (fd-budget.ts). */
  maxConnections: number;
  /** The web UI's parts, when ui.enabled. */
  ui?: UiParts;
}

export interface UiParts {
  /** Where the built bundle is (dist/ui). */
  dir: string;
  history: StatusHistory;
  dns: () => DnsPreviewer | null;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The HTTP face: every route group registered on one Fastify instance, not yet listening. */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config, catalog, lb, health, metrics } = deps;
  const timeouts = connectionTimeouts(config.http);
  // Fastify's own info lines (its "Server listening at") would repeat the server's single
  // start-up line; it logs warnings and errors only, and requests are logged below.
  const fastifyLogger: FastifyBaseLogger =
    deps.logger.levelVal >= deps.logger.levels.values.warn ? deps.logger : deps.logger.child({}, { level: 'warn' });
  const schemas = lazySchemas();
  const app = Fastify({
    // Each route's schemas compile on its first request, not at start-up (lazy-schemas.ts).
    schemaController: { compilersFactory: { buildSerializer: schemas.buildSerializer } },
    loggerInstance: fastifyLogger,
    // One line per request comes from the onResponse hook below, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.http.bodyLimit,
    // Every stage of a connection has a deadline (connection-timeouts.ts); Fastify's are all off.
    connectionTimeout: timeouts.idleMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    requestTimeout: timeouts.requestMs,
    http: {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      connectionsCheckingInterval: timeouts.checkEveryMs,
    },
    trustProxy: config.http.trustProxy,
    // Requests that arrive while the server drains get our own shutting_down 503 (below).
    return503OnClosing: false,
    // Ids and check ids are up to 256 characters, three times that when %-escaped; the default
    // of 100 made long ids registrable but not readable or removable.
    routerOptions: { maxParamLength: 1024 },
    // The router's and the HTTP parser's refusals answer in the standard error shape too.
    frameworkErrors: (error, request, reply) => {
      void reply.header('x-request-id', request.id);
      errorHandler(error, request, reply);
    },
    clientErrorHandler,
    requestIdHeader: false,
    childLoggerFactory: (logger, bindings, options) => new LazyChildLogger(logger, bindings, options),
    genReqId: (request) => {
      const sent = request.headers['x-request-id'];
      return typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : randomUUID();
    },
  });
  guardConnections(app.server, {
    maxConnections: deps.maxConnections,
    registry: metrics.registry,
    logger: deps.logger,
  });
  useLazySchemas(app, schemas);
  // JSON only: any other body type is a 415, not a string that fails validation later.
  app.removeContentTypeParser(['text/plain']);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    const error = Errors.routeNotFound(request.method, request.url.split('?', 1)[0]);
    void reply.status(error.statusCode).send({ error: { code: error.code, message: error.message } });
  });

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // The per-request hooks take Fastify's done callback rather than being async: every request
  // runs them, and a promise per hook is measurable next to a catalog query.
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    if (!closing && deps.shuttingDown?.() !== true) return done();
    void reply.header('connection', 'close');
    done(Errors.shuttingDown());
  });

  const authHook = createAuthHook(config.auth);
  if (authHook !== null) app.addHook('onRequest', authHook);
  const rateLimit = createWriteRateLimit({ ...config.limits, ...(deps.now === undefined ? {} : { now: deps.now }) });
  if (rateLimit !== null) app.addHook('onRequest', rateLimit);

  // One line and two metrics per request, labelled by route template (never the raw URL, whose
  // ids would make label values unbounded).
  const logger = deps.logger;
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const elapsedMs = reply.elapsedTime;
    metrics.httpRequests.inc(request.method, route, reply.statusCode);
    metrics.httpDuration.observe(elapsedMs / 1000, request.method, route);
    if (logger.isLevelEnabled('info')) {
      logger.info(
        {
          reqId: request.id,
          method: request.method,
          route,
          url: loggedUrl(request.url),
          status: reply.statusCode,
          ms: Number(elapsedMs.toFixed(3)),
        },
        'request',
      );
    }
    done();
  });

  const blocking = {
    defaultWaitMs: parseDuration(config.blocking.defaultWait)!,
    maxWaitMs: parseDuration(config.blocking.maxWait)!,
    ...(deps.random === undefined ? {} : { random: deps.random }),
  };
  await app.register(probeRoutes, { notReadyReason: deps.notReadyReason });
  await app.register(metricsRoutes, { registry: metrics.registry });
  const answers = new JoinedAnswers(config.http.answerCacheBytes);
  registerAnswerCacheMetrics(metrics.registry, answers);
  await app.register(catalogRoutes, { catalog, lb, blocking, answers });
  await app.register(checkRoutes, { catalog, health, blocking });
  await app.register(maintenanceRoutes, { catalog });
  await app.register(outcomeRoutes, { catalog, lb });
  await app.register(serviceConfigRoutes, { catalog, lb, blocking });
  await app.register(shortRoutes, { catalog, lb, blocking, answers, health, defaultTtl: config.health.defaultTtl });
  await app.register(consulRoutes, { catalog, lb, health, blocking, answers });
  if (deps.ui !== undefined) {
    await app.register(uiStaticRoutes, { dir: deps.ui.dir });
    await app.register(uiApiRoutes, {
      catalog,
      lb,
      lbConfig: config.lb,
      blocking,
      history: deps.ui.history,
      dns: deps.ui.dns,
      dnsDomain: config.dns.domain,
      auth: { writes: config.auth.token !== '', reads: config.auth.token !== '' && config.auth.protectReads },
      placement: health,
    });
  }
  return app;
}

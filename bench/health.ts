/**
 * Health-check scheduling under load: 10,000 http checks every 10 s (1,000 runs a second)
 * against a local target, with the HTTP API answering health reads in the same process.
 *
 *   npx tsx bench/health.ts [seconds]        (or HEALTH_BENCH_SECONDS; default 60)
 *
 * Reports, for the steady state after the first interval (the start-up burst of first runs is
 * reported apart): scheduling lag p50/p99 (actual minus planned start, from the manager's own
 * konsul_health_check_lag_seconds histogram), process CPU, and two baselines measured in the
 * same run: the target's own request rate (in a child process, so its CPU is not counted), and
 * the latency of GET /health/checks/:service before the checks start and while they run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Catalog } from '../src/catalog/catalog.js';
import { SqliteStore } from '../src/catalog/sqlite-store.js';
import { HealthManager } from '../src/health/manager.js';
import { checkRoutes } from '../src/http/routes/checks.js';
import { errorHandler } from '../src/http/error-handler.js';
import { validatorCompiler } from '../src/http/validation.js';

const CHECKS = 10_000;
const SERVICES = 100;
const INTERVAL = '10s';
const INTERVAL_MS = 10_000;

/** The checked service: a bare node:http server in its own process, counting what it answers. */
function runTarget(): void {
  let answered = 0;
  const server = http.createServer((_request, response) => {
    answered++;
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    response.end('ok');
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 });
  });
  const report = setInterval(() => process.send?.({ answered }), 1000);
  process.on('disconnect', () => {
    clearInterval(report);
    server.close();
    server.closeAllConnections();
  });
}

async function main(): Promise<void> {
  const seconds = Number(process.argv.at(2) ?? process.env.HEALTH_BENCH_SECONDS ?? 60);
  if (!Number.isFinite(seconds) || seconds < 15)
    throw new Error('run for at least 15 s: the first 10 s interval is the start-up burst');

  const target = fork(fileURLToPath(import.meta.url), ['--target'], { execArgv: process.execArgv });
  let answered = 0;
  const port = await new Promise<number>((resolve) =>
    target.on('message', (message: { port?: number; answered?: number }) => {
      if (message.port !== undefined) resolve(message.port);
      if (message.answered !== undefined) answered = message.answered;
    }),
  );

  const dir = mkdtempSync(join(tmpdir(), 'konsul-bench-health-'));
  const catalog = await Catalog.open(new SqliteStore(join(dir, 'konsul.db'), { synchronous: 'normal' }), {
    checkDefaults: { interval: INTERVAL, timeout: '5s' },
  });
  const registry = new Registry();
  const health = new HealthManager({
    catalog,
    config: {
      enabled: true,
      maxConcurrent: 256,
      defaultInterval: INTERVAL,
      defaultTimeout: '5s',
      defaultTtl: '30s',
      minInterval: '1s',
      minTimeout: '100ms',
      maxChecksPerInstance: 16,
      outputBytes: 4096,
      outputSyncInterval: '5m',
    },
    registry,
    logger: pino({ level: 'warn' }),
  });
  const app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(errorHandler);
  await app.register(checkRoutes, { catalog, health, blocking: { defaultWaitMs: 300_000, maxWaitMs: 600_000 } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const apiPort = (app.server.address() as { port: number }).port;
  const api = new ApiSampler(apiPort);

  console.log(
    `health bench: ${CHECKS} http checks every ${INTERVAL} (${CHECKS / (INTERVAL_MS / 1000)} runs/s), ${seconds} s, node ${process.version}`,
  );
  // Baseline 1: the API with the catalog loaded and no check running.
  for (let n = 0; n < CHECKS; n += 1000) {
    await Promise.all(
      Array.from({ length: 1000 }, (_, offset) => {
        const id = n + offset;
        return catalog.register({
          id: `app-${id}`,
          name: `svc-${id % SERVICES}`,
          address: '127.0.0.1',
          port: 20_000 + (id % 10_000),
          tags: [],
          checks: [],
        });
      }),
    );
  }
  const idle = await api.sampleFor(2000);
  console.log(
    `baseline  API GET /health/checks/:service, no checks running: p50 ${ms(idle.p50)}  p99 ${ms(idle.p99)}  (${idle.count} requests)`,
  );

  health.start();
  const startedAt = Date.now();
  for (let n = 0; n < CHECKS; n += 1000) {
    await Promise.all(
      Array.from({ length: 1000 }, (_, offset) => {
        const id = n + offset;
        return catalog.register({
          id: `app-${id}`,
          name: `svc-${id % SERVICES}`,
          address: '127.0.0.1',
          port: 20_000 + (id % 10_000),
          checks: [
            {
              id: `app-${id}-http`,
              type: 'http',
              http: `http://127.0.0.1:${port}/health?instance=${id}`,
              interval: INTERVAL,
              timeout: '2s',
            },
          ],
        });
      }),
    );
  }
  api.start();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();

  // The first runs all come within a second of registration; the steady state starts after one
  // full interval, once every check has settled at its own phase.
  const warmupMs = INTERVAL_MS + 2000;
  let steady: Snapshot | null = null;
  let lastProgress: Snapshot = await snapshot(registry, answered);
  const endAt = startedAt + seconds * 1000;
  while (Date.now() < endAt) {
    await sleep(Math.min(10_000, endAt - Date.now()));
    const now = await snapshot(registry, answered);
    const window = diff(lastProgress, now);
    const windowApi = api.drain();
    console.log(
      `  t=${((Date.now() - startedAt) / 1000).toFixed(0).padStart(3)}s  runs/s ${(window.runs / window.seconds).toFixed(0).padStart(5)}  target req/s ${(window.answered / window.seconds).toFixed(0).padStart(5)}  ` +
        `lag p50 ${ms(quantile(window.lag, 0.5))} p99 ${ms(quantile(window.lag, 0.99))}  in flight ${health.inFlight}  API p99 ${ms(windowApi.p99)}  loop delay p99 ${ms(loopDelay.percentile(99) / 1e9)}  CPU ${window.cpuPercent.toFixed(0)}%`,
    );
    loopDelay.reset();
    lastProgress = now;
    if (steady === null && Date.now() - startedAt >= warmupMs) steady = now;
    else if (steady !== null) api.keep(windowApi);
  }
  const end = await snapshot(registry, answered);
  const total = diff(await zeroSnapshot(), end);
  const burstLag = steady === null ? total.lag : diff(await zeroSnapshot(), steady).lag;
  console.log(
    `start-up burst (first ${warmupMs / 1000} s): lag p50 ${ms(quantile(burstLag, 0.5))}  p99 ${ms(quantile(burstLag, 0.99))}`,
  );
  if (steady !== null) {
    const window = diff(steady, end);
    const running = api.kept();
    console.log(
      `steady state (${window.seconds.toFixed(0)} s): ${(window.runs / window.seconds).toFixed(0)} runs/s  lag p50 ${ms(quantile(window.lag, 0.5))}  p99 ${ms(quantile(window.lag, 0.99))}  ` +
        `CPU ${window.cpuPercent.toFixed(0)}% of one core  target ${(window.answered / window.seconds).toFixed(0)} req/s`,
    );
    console.log(
      `baseline  API GET /health/checks/:service while checks run: p50 ${ms(running.p50)}  p99 ${ms(running.p99)}  max ${ms(running.max)}  (${running.count} requests)`,
    );
    console.log(`goal p99 lag < 100 ms: ${quantile(window.lag, 0.99) < 0.1 ? 'met' : 'NOT met'}`);
  } else {
    console.log('run longer than 12 s to see the steady state');
  }
  const statuses = { passing: 0, warning: 0, critical: 0 };
  for (const instance of catalog.allInstances()) statuses[instance.status]++;
  console.log(`instances: ${statuses.passing} passing, ${statuses.warning} warning, ${statuses.critical} critical`);

  loopDelay.disable();
  api.stop();
  await health.stop();
  await app.close();
  await catalog.close();
  stopTarget(target);
  rmSync(dir, { recursive: true, force: true });
}

// ---- measurement ------------------------------------------------------------------------------

interface Snapshot {
  at: number;
  cpu: NodeJS.CpuUsage;
  runs: number;
  answered: number;
  /** Cumulative lag histogram: upper bound in seconds → count. */
  lag: Map<number, number>;
}

interface Window {
  seconds: number;
  runs: number;
  answered: number;
  cpuPercent: number;
  lag: Map<number, number>;
}

async function snapshot(registry: Registry, answered: number): Promise<Snapshot> {
  const lag = new Map<number, number>();
  let runs = 0;
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const value of metric.values as {
      labels: Record<string, string | number>;
      value: number;
      metricName?: string;
    }[]) {
      if (value.metricName === 'konsul_health_check_lag_seconds_bucket')
        lag.set(value.labels.le === '+Inf' ? Infinity : Number(value.labels.le), value.value);
      if (metric.name === 'konsul_health_checks_total' && value.labels.type === 'http') runs += value.value;
    }
  }
  return { at: Date.now(), cpu: process.cpuUsage(), runs, answered, lag };
}

async function zeroSnapshot(): Promise<Snapshot> {
  return { at: 0, cpu: { user: 0, system: 0 }, runs: 0, answered: 0, lag: new Map() };
}

function diff(from: Snapshot, to: Snapshot): Window {
  const seconds = (to.at - from.at) / 1000;
  const cpuMicros = to.cpu.user - from.cpu.user + (to.cpu.system - from.cpu.system);
  const lag = new Map<number, number>();
  for (const [bound, count] of to.lag) lag.set(bound, count - (from.lag.get(bound) ?? 0));
  return {
    seconds,
    runs: to.runs - from.runs,
    answered: to.answered - from.answered,
    cpuPercent: from.at === 0 ? 0 : cpuMicros / 10 / (to.at - from.at),
    lag,
  };
}

/** Prometheus histogram_quantile: linear interpolation inside the bucket holding the rank. */
function quantile(cumulative: Map<number, number>, q: number): number {
  const bounds = [...cumulative.keys()].sort((a, b) => a - b);
  const total = cumulative.get(Infinity) ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let previousBound = 0;
  let previousCount = 0;
  for (const bound of bounds) {
    const count = cumulative.get(bound)!;
    if (count >= rank) {
      if (bound === Infinity) return previousBound;
      return previousBound + ((bound - previousBound) * (rank - previousCount)) / Math.max(count - previousCount, 1);
    }
    previousBound = bound;
    previousCount = count;
  }
  return previousBound;
}

/** Reads GET /health/checks/:service every 20 ms over a keep-alive connection, timing each. */
class ApiSampler {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private timer: NodeJS.Timeout | null = null;
  private latencies: number[] = [];
  private keptLatencies: number[] = [];
  private sequence = 0;

  constructor(private readonly port: number) {}

  start(): void {
    this.timer = setInterval(() => void this.once(), 20);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.agent.destroy();
  }

  async sampleFor(durationMs: number): Promise<Summary> {
    const endAt = Date.now() + durationMs;
    while (Date.now() < endAt) {
      await this.once();
      await sleep(20);
    }
    return summarize(this.latencies.splice(0));
  }

  drain(): Summary {
    const window = this.latencies.splice(0);
    return { ...summarize(window), samples: window };
  }

  keep(window: Summary): void {
    this.keptLatencies.push(...(window.samples ?? []));
  }

  kept(): Summary {
    return summarize(this.keptLatencies);
  }

  private once(): Promise<void> {
    const started = process.hrtime.bigint();
    const service = `svc-${this.sequence++ % SERVICES}`;
    return new Promise((resolve) => {
      const request = http.get(
        { host: '127.0.0.1', port: this.port, path: `/health/checks/${service}`, agent: this.agent },
        (response) => {
          response.resume();
          response.on('end', () => {
            if (response.statusCode === 200) this.latencies.push(Number(process.hrtime.bigint() - started) / 1e9);
            resolve();
          });
        },
      );
      request.on('error', () => resolve());
    });
  }
}

interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  samples?: number[];
}

function summarize(latencies: number[]): Summary {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN };
}

function ms(seconds: number): string {
  return Number.isNaN(seconds) ? '   n/a' : `${(seconds * 1000).toFixed(2).padStart(6)} ms`;
}

function sleep(msToWait: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, msToWait));
}

function stopTarget(child: ChildProcess): void {
  child.disconnect();
}

// Last, so that the classes above are initialised before main() uses them.
if (process.argv[2] === '--target') runTarget();
else await main();

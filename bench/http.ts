/**
 * Catalog query throughput: Konsul answering
 *   GET /catalog/services?name=web&lb=ring-hash&session-key=<varying>&limit=3
 * over 100 registered instances of `web`, against a bare Fastify route (bench/bare-server.ts,
 * its own process) that answers the same bytes with the same content-type. autocannon drives
 * both from this process with the same settings, one after the other, after a warm-up each.
 * Then: the same query at log level info (one log line per request), with a fixed session key,
 * and with every strategy in shorter runs.
 *
 *   npx tsx bench/http.ts                                   (npm run bench:http)
 *   BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_SHORT_SECONDS=3 npx tsx bench/http.ts
 *
 * The main comparison alternates Konsul and the bare route for BENCH_ROUNDS rounds of
 * BENCH_SECONDS each and reports the median of each figure and the median of the per-round
 * ratios (see pairedRounds() for why), with the CPU time the server process spent per request
 * (from /proc) beside req/s: on a shared 2-core machine req/s alone flatters whichever side the
 * load generator and the neighbours starve less. Consul's `GET /v1/health/service/web?passing=true`
 * (all 100 instances) is compared the same way against a bare route answering its bytes, and so
 * is `GET /health/live`: no catalog work, so its ratio is the ceiling the lifecycle every request
 * goes through (hooks, metrics, connection guard) leaves the query's.
 *
 * Goals (issue #14): the bare route's CPU per request ≥ 0.75 of Konsul's (Konsul within 1.33×),
 * and Konsul's req/s ≥ 0.75 of the bare route's; p99 within 2× of the bare route's.
 */
import { loadConfig } from '../src/config/load.js';
import { registerService } from './lib/catalog-setup.js';
import { sendOk } from './lib/http-client.js';
import { loadavg } from 'node:os';
import { failures, interleaved, pairedRounds, runLoad, type LoadResult, type PairedRounds } from './lib/load.js';
import { startBareServer, startKonsul, type ServerProcess } from './lib/processes.js';
import { step } from './lib/progress.js';
import { fmt, goalTable, isMain, renderSection, type Section } from './lib/report.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const INFO_ROUNDS = Math.max(1, ROUNDS - 1);
const SHORT_SECONDS = Number(process.env.BENCH_SHORT_SECONDS ?? 3);
const WARMUP_SECONDS = 2;
const CONNECTIONS = 50;
const INSTANCES = 100;
const SESSION_KEYS = 10_000;
/** The goal of both ratios (issue #14): Konsul within 1.33× of the bare route. */
const RATIO_GOAL = 0.75;
const HEALTH_PATH = '/v1/health/service/web?passing=true';
/** A route with no catalog work: Konsul's per-request lifecycle alone against the bare route's. */
const LIVE_PATH = '/health/live';
/** Every strategy the server ships enabled. */
export const STRATEGIES = loadConfig({ env: {} }).lb.enabled;

/** The benchmark's query path; a varying key cycles through SESSION_KEYS so the consistent-hash lookups differ per request. */
export function queryPath(strategy: string, key: number | 'fixed'): string {
  const session = key === 'fixed' ? 'user-42' : `user-${key % SESSION_KEYS}`;
  const region = strategy === 'latency-based' ? '&client-region=eu-west' : '';
  return `/catalog/services?name=web&lb=${strategy}&session-key=${session}&limit=3${region}`;
}

/** Loads `server` with the query, the session key varying per request unless `fixed`. */
export function loadQuery(
  server: ServerProcess,
  strategy: string,
  seconds: number,
  fixed = false,
): Promise<LoadResult> {
  let counter = 0;
  return runLoad({
    url: server.url,
    seconds,
    connections: CONNECTIONS,
    serverPid: server.pid,
    setupRequest: (request) => ({ ...request, path: queryPath(strategy, fixed ? 'fixed' : counter++) }),
  });
}

/** Loads `server` with one fixed path. */
function loadPath(server: ServerProcess, path: string, seconds: number): Promise<LoadResult> {
  return runLoad({
    url: server.url,
    seconds,
    connections: CONNECTIONS,
    serverPid: server.pid,
    setupRequest: (request) => ({ ...request, path }),
  });
}

function cpu(result: LoadResult): string {
  return result.cpuPerRequestUs === null ? 'n/a' : `${result.cpuPerRequestUs.toFixed(1)} µs`;
}

function roundLine(prefix: string, labels: [string, string]) {
  return (target: number, round: number, result: LoadResult): void =>
    step(
      `${prefix}   round ${round + 1} ${labels[target]}: ${cpu(result)} CPU/request, ${fmt.int(result.rps)} req/s, p99 ${fmt.ms(result.p99Ms)}, load ${loadavg()[0].toFixed(2)}${describe(result)}`,
    );
}

/** What a row is held to; `met` null when it is only reported. */
interface RowGoal {
  text: string;
  met: boolean | null;
}

/** A paired comparison's CPU per request and req/s against the bare route. */
function ratioRows(what: string, paired: PairedRounds, cpuGoal: RowGoal, rpsGoal: RowGoal) {
  const { subject, baseline } = paired;
  return [
    {
      figure: `${what}: CPU per request (server process, /proc)`,
      value: cpu(subject),
      baseline: cpu(baseline),
      ratio: paired.cpuRatio === null ? 'n/a' : paired.cpuRatio.toFixed(2),
      goal: cpuGoal.text,
      met: cpuGoal.met,
    },
    {
      figure: `${what}: req/s (2xx only)`,
      value: fmt.int(subject.rps),
      baseline: fmt.int(baseline.rps),
      ratio: paired.rpsRatio.toFixed(2),
      goal: rpsGoal.text,
      met: rpsGoal.met,
    },
  ];
}

/** The goal rows of one paired comparison: CPU per request and req/s against the bare route, and p99. */
function pairedRows(what: string, paired: PairedRounds, p99Goal: boolean) {
  const { cpuRatio, rpsRatio } = paired;
  return [
    ...ratioRows(
      what,
      paired,
      { text: `bare / Konsul ≥ ${RATIO_GOAL}`, met: cpuRatio === null ? null : cpuRatio >= RATIO_GOAL },
      { text: `Konsul / bare ≥ ${RATIO_GOAL}`, met: rpsRatio >= RATIO_GOAL },
    ),
    {
      figure: `${what}: p99 latency`,
      value: fmt.ms(paired.subject.p99Ms),
      baseline: fmt.ms(paired.baseline.p99Ms),
      ratio: fmt.ratio(paired.p99Ratio),
      goal: p99Goal ? '≤ 2× bare' : '—',
      met: p99Goal ? paired.p99Ratio <= 2 : null,
    },
  ];
}

/**
 * The rows of the liveness pairing, reported beside the goals: what Konsul's per-request
 * lifecycle (request id, shutdown, auth and rate-limit hooks, the metrics and log hook, the
 * connection guard) costs around a route with no catalog work (its handler returns
 * `{ status: 'live' }` through the route's response serializer), and so about the ratio a
 * query could reach if its own work cost nothing.
 */
function lifecycleRows(paired: PairedRounds) {
  return ratioRows(
    `${LIVE_PATH} (no catalog work)`,
    paired,
    { text: '— (the ceiling of the ratios above)', met: null },
    { text: '—', met: null },
  );
}

function describe(result: LoadResult): string {
  const failed = failures(result);
  return failed === '' ? '' : ` (${failed})`;
}

export async function run(): Promise<Section> {
  const servers: ServerProcess[] = [];
  try {
    step(`http: starting Konsul (log level warn) and registering ${INSTANCES} instances of web`);
    const konsul = await startKonsul('konsul');
    servers.push(konsul);
    await registerService(konsul.url, 'web', INSTANCES);
    const answer = await sendOk(`${konsul.url}${queryPath('ring-hash', 'fixed')}`);
    const contentType = String(answer.headers['content-type']);
    step(
      `http: Konsul answers ${answer.body.length} bytes (${contentType}); starting the bare Fastify route with the same bytes`,
    );
    const bare = await startBareServer('bare', answer.body, contentType);
    servers.push(bare);
    const bareAnswer = await sendOk(`${bare.url}${queryPath('ring-hash', 'fixed')}`);
    if (!bareAnswer.body.equals(answer.body)) throw new Error('the bare route does not answer the same bytes');

    step(`http: warm-up, ${WARMUP_SECONDS} s each`);
    await loadQuery(konsul, 'ring-hash', WARMUP_SECONDS);
    await loadQuery(bare, 'ring-hash', WARMUP_SECONDS);
    const loadAtStart = loadavg();
    step(
      `http: Konsul vs bare, ring-hash with a varying session key, ${ROUNDS} alternating rounds of ${SECONDS} s, ${CONNECTIONS} connections`,
    );
    const query = await pairedRounds(
      () => loadQuery(konsul, 'ring-hash', SECONDS),
      () => loadQuery(bare, 'ring-hash', SECONDS),
      ROUNDS,
      roundLine('http:', ['Konsul', 'bare  ']),
    );
    const { subject: main, baseline } = query;

    const health = await sendOk(`${konsul.url}${HEALTH_PATH}`);
    step(`http: ${HEALTH_PATH} answers ${health.body.length} bytes; starting a bare route with the same bytes`);
    const bareHealth = await startBareServer('bare-health', health.body, String(health.headers['content-type']));
    servers.push(bareHealth);
    const bareHealthAnswer = await sendOk(`${bareHealth.url}${HEALTH_PATH}`);
    if (!bareHealthAnswer.body.equals(health.body))
      throw new Error('the bare health route does not answer the same bytes');
    await loadPath(konsul, HEALTH_PATH, WARMUP_SECONDS);
    await loadPath(bareHealth, HEALTH_PATH, WARMUP_SECONDS);
    step(`http: Konsul vs bare, ${HEALTH_PATH}, ${ROUNDS} alternating rounds of ${SECONDS} s`);
    const healthPaired = await pairedRounds(
      () => loadPath(konsul, HEALTH_PATH, SECONDS),
      () => loadPath(bareHealth, HEALTH_PATH, SECONDS),
      ROUNDS,
      roundLine('http:', ['Konsul', 'bare  ']),
    );
    await bareHealth.stop();

    const live = await sendOk(`${konsul.url}${LIVE_PATH}`);
    const bareLive = await sendOk(`${bare.url}${LIVE_PATH}`);
    if (!bareLive.body.equals(live.body)) throw new Error('the bare liveness route does not answer the same bytes');
    await loadPath(konsul, LIVE_PATH, WARMUP_SECONDS);
    await loadPath(bare, LIVE_PATH, WARMUP_SECONDS);
    step(`http: Konsul vs bare, ${LIVE_PATH} (no catalog work), ${ROUNDS} alternating rounds of ${SECONDS} s`);
    const livePaired = await pairedRounds(
      () => loadPath(konsul, LIVE_PATH, SECONDS),
      () => loadPath(bare, LIVE_PATH, SECONDS),
      ROUNDS,
      roundLine('http:', ['Konsul', 'bare  ']),
    );
    const loadAtEnd = loadavg();

    step(`http: Konsul ring-hash, fixed session key, ${SHORT_SECONDS * 2} s`);
    const fixed = await loadQuery(konsul, 'ring-hash', SHORT_SECONDS * 2, true);

    const strategyRows: string[][] = [];
    for (const strategy of STRATEGIES) {
      const result = await loadQuery(konsul, strategy, SHORT_SECONDS);
      step(`http: lb=${strategy}: ${fmt.int(result.rps)} req/s, p99 ${fmt.ms(result.p99Ms)}${describe(result)}`);
      strategyRows.push([
        strategy,
        fmt.int(result.rps),
        fmt.ms(result.p50Ms),
        fmt.ms(result.p99Ms),
        fmt.percent(result.rps / baseline.rps),
        failures(result) || '—',
      ]);
    }
    await bare.stop();

    step('http: starting a second Konsul at log level info (one JSON line per request, to a file)');
    const verbose = await startKonsul('konsul-info', { logLevel: 'info' });
    servers.push(verbose);
    await registerService(verbose.url, 'web', INSTANCES);
    await loadQuery(verbose, 'ring-hash', WARMUP_SECONDS);
    step(`http: Konsul warn vs info, ${INFO_ROUNDS} alternating rounds of ${SECONDS} s`);
    const [quiet, info] = await interleaved(
      [() => loadQuery(konsul, 'ring-hash', SECONDS), () => loadQuery(verbose, 'ring-hash', SECONDS)],
      INFO_ROUNDS,
      (target, round, result) =>
        step(
          `http:   round ${round + 1} ${target === 0 ? 'warn' : 'info'}: ${fmt.int(result.rps)} req/s, p99 ${fmt.ms(result.p99Ms)}${describe(result)}`,
        ),
    );

    const loads = `load average ${loadAtStart.map((value) => value.toFixed(2)).join(' ')} before the paired rounds, ${loadAtEnd.map((value) => value.toFixed(2)).join(' ')} after`;
    return {
      title: 'Catalog query over HTTP',
      summary:
        `\`GET /catalog/services?name=web&lb=ring-hash&session-key=<varying>&limit=3\` over ${INSTANCES} instances of \`web\` ` +
        `(answer ${answer.body.length} bytes), autocannon ${CONNECTIONS} connections, pipelining 1, after a ${WARMUP_SECONDS} s warm-up; ` +
        `Konsul and the baseline alternate for ${ROUNDS} rounds of ${SECONDS} s; each figure is the median of its rounds and each ratio the median of the per-round ratios. ` +
        'CPU per request is the CPU time (user + system) of the server process over a run, from /proc/<pid>/stat, divided by its 2xx answers. ' +
        `Baseline: a bare Fastify route in its own process answering the same bytes with the same content-type. Konsul at log level warn unless stated. ` +
        `\`${HEALTH_PATH}\` (${INSTANCES} passing instances, ${health.body.length} bytes) is compared the same way, and so is \`${LIVE_PATH}\`, which does no catalog work: its ratio is what Konsul's per-request lifecycle alone leaves of the bare route's. ${loads}.`,
      tables: [
        goalTable([
          ...pairedRows('catalog query', query, true),
          ...pairedRows('/v1/health/service', healthPaired, false),
          ...lifecycleRows(livePaired),
          {
            figure: 'p50 latency',
            value: fmt.ms(main.p50Ms),
            baseline: fmt.ms(baseline.p50Ms),
            ratio: fmt.ratio(main.p50Ms / baseline.p50Ms),
            goal: '—',
            met: null,
          },
          {
            figure: 'req/s, fixed session key',
            value: fmt.int(fixed.rps),
            baseline: fmt.int(baseline.rps),
            ratio: fmt.percent(fixed.rps / baseline.rps),
            goal: '—',
            met: null,
          },
          {
            figure: 'req/s at log level info',
            value: fmt.int(info.rps),
            baseline: `${fmt.int(quiet.rps)} (warn)`,
            ratio: fmt.percent(info.rps / quiet.rps),
            goal: '— (the cost of one log line per request)',
            met: null,
          },
          {
            figure: 'p99 at log level info',
            value: fmt.ms(info.p99Ms),
            baseline: `${fmt.ms(quiet.p99Ms)} (warn)`,
            ratio: fmt.ratio(info.p99Ms / quiet.p99Ms),
            goal: '—',
            met: null,
          },
        ]),
        {
          headers: ['strategy (limit=3)', 'req/s', 'p50', 'p99', '% of bare', 'failures'],
          align: ['l', 'r', 'r', 'r', 'r', 'l'],
          rows: strategyRows,
        },
      ],
      command: 'npx tsx bench/http.ts',
      notes: [
        `Each strategy ran once for ${SHORT_SECONDS} s against the same warm server: single runs, so noisier than the medians above (a spread of ±40% between ` +
          'strategies here is mostly the machine, not the strategy; bench/lb.ts isolates their cost). "% of bare" divides by the bare median above. ' +
          `The info-level rows compare two live servers, one at warn and one at info (its log to a file), alternating for ${INFO_ROUNDS} rounds. latency-based sends \`client-region=eu-west\`. ` +
          'Failures count non-2xx answers and socket errors; req/s counts only 2xx answers.',
      ],
    };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

if (isMain(import.meta.url)) console.log(renderSection(await run()));

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
 * BENCH_SECONDS each and reports the median of each figure (see interleaved() for why).
 *
 * Goals: ≥ 75% of the bare route's req/s; p99 within 2× of the bare route's.
 */
import { registerService } from './lib/catalog-setup.js';
import { sendOk } from './lib/http-client.js';
import { failures, interleaved, runLoad, type LoadResult } from './lib/load.js';
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
export const STRATEGIES = [
  'round-robin',
  'weighted-round-robin',
  'random',
  'weighted-random',
  'least-connections',
  'p2c',
  'ip-hash',
  'ring-hash',
  'maglev',
  'latency-based',
];

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
    setupRequest: (request) => ({ ...request, path: queryPath(strategy, fixed ? 'fixed' : counter++) }),
  });
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
    step(
      `http: Konsul vs bare, ring-hash with a varying session key, ${ROUNDS} alternating rounds of ${SECONDS} s, ${CONNECTIONS} connections`,
    );
    const [main, baseline] = await interleaved(
      [() => loadQuery(konsul, 'ring-hash', SECONDS), () => loadQuery(bare, 'ring-hash', SECONDS)],
      ROUNDS,
      (target, round, result) =>
        step(
          `http:   round ${round + 1} ${target === 0 ? 'Konsul' : 'bare  '}: ${fmt.int(result.rps)} req/s, p50 ${fmt.ms(result.p50Ms)}, p99 ${fmt.ms(result.p99Ms)}${describe(result)}`,
        ),
    );
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

    const throughputRatio = main.rps / baseline.rps;
    const p99Ratio = main.p99Ms / baseline.p99Ms;
    return {
      title: 'Catalog query over HTTP',
      summary:
        `\`GET /catalog/services?name=web&lb=ring-hash&session-key=<varying>&limit=3\` over ${INSTANCES} instances of \`web\` ` +
        `(answer ${answer.body.length} bytes), autocannon ${CONNECTIONS} connections, pipelining 1, after a ${WARMUP_SECONDS} s warm-up; ` +
        `Konsul and the baseline alternate for ${ROUNDS} rounds of ${SECONDS} s and each figure is the median of its rounds. ` +
        'Baseline: a bare Fastify route in its own process answering the same bytes with the same content-type. Konsul at log level warn unless stated.',
      tables: [
        goalTable([
          {
            figure: 'req/s (2xx only)',
            value: fmt.int(main.rps),
            baseline: fmt.int(baseline.rps),
            ratio: fmt.percent(throughputRatio),
            goal: '≥ 75% of bare',
            met: throughputRatio >= 0.75,
          },
          {
            figure: 'p50 latency',
            value: fmt.ms(main.p50Ms),
            baseline: fmt.ms(baseline.p50Ms),
            ratio: fmt.ratio(main.p50Ms / baseline.p50Ms),
            goal: '—',
            met: null,
          },
          {
            figure: 'p99 latency',
            value: fmt.ms(main.p99Ms),
            baseline: fmt.ms(baseline.p99Ms),
            ratio: fmt.ratio(p99Ratio),
            goal: '≤ 2× bare',
            met: p99Ratio <= 2,
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

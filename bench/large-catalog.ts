/**
 * A large catalog: 100,000 instances (1,000 services × 100, `web` among them) registered over
 * HTTP, then the catalog query of bench/http.ts against it, alternating with a server holding
 * only the 100 instances of `web`. Resident memory of each server process from /proc/<pid>/status.
 *
 *   npx tsx bench/large-catalog.ts                      (npm run bench:large)
 *   BENCH_LARGE_SERVICES=1000 BENCH_SECONDS=5 npx tsx bench/large-catalog.ts
 *
 * Goals: query throughput within 20% of the small catalog's; resident memory under 400 MB.
 */
import { instanceOf, registerService } from './lib/catalog-setup.js';
import { registerMany } from './lib/http-client.js';
import { failures, interleaved } from './lib/load.js';
import { megabytes, residentBytes } from './lib/proc.js';
import { startKonsul, type ServerProcess } from './lib/processes.js';
import { step } from './lib/progress.js';
import { fmt, goalTable, isMain, renderSection, type Section } from './lib/report.js';
import { loadQuery } from './http.js';

const SERVICES = Number(process.env.BENCH_LARGE_SERVICES ?? 1000);
const PER_SERVICE = 100;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3) - 1);
const CONCURRENCY = 64;
const PROGRESS_EVERY = 10_000;
const RSS_GOAL = 400 * 2 ** 20;

/** Service 0 is `web`, so the query is the same one as on the small catalog. */
function serviceName(service: number): string {
  return service === 0 ? 'web' : `svc-${String(service).padStart(4, '0')}`;
}

export async function run(): Promise<Section> {
  const servers: ServerProcess[] = [];
  try {
    step('large-catalog: starting the small (100 instances) and the large Konsul');
    const small = await startKonsul('konsul-small');
    servers.push(small);
    await registerService(small.url, 'web', PER_SERVICE);
    const large = await startKonsul('konsul-large');
    servers.push(large);
    const total = SERVICES * PER_SERVICE;
    const rssEmpty = residentBytes(large.pid);
    step(`large-catalog: registering ${fmt.int(total)} instances over HTTP, ${CONCURRENCY} in flight`);
    const started = Date.now();
    await registerMany(
      large.url,
      total,
      // Service-major order interleaved: consecutive requests hit different services, as many clients would.
      (i) => instanceOf(serviceName(i % SERVICES), Math.floor(i / SERVICES)),
      {
        concurrency: CONCURRENCY,
        progressEvery: PROGRESS_EVERY,
        progress: (done) =>
          step(`large-catalog:   ${fmt.int(done)} registered (${fmt.int(done / ((Date.now() - started) / 1000))}/s)`),
      },
    );
    const loadSeconds = (Date.now() - started) / 1000;
    const rssLoaded = residentBytes(large.pid);
    step(`large-catalog: loaded in ${loadSeconds.toFixed(1)} s; RSS ${megabytes(rssLoaded)}`);

    step('large-catalog: warm-up, 2 s each');
    await loadQuery(small, 'ring-hash', 2);
    await loadQuery(large, 'ring-hash', 2);
    step(`large-catalog: small vs large, ${ROUNDS} alternating rounds of ${SECONDS} s`);
    const [smallResult, largeResult] = await interleaved(
      [() => loadQuery(small, 'ring-hash', SECONDS), () => loadQuery(large, 'ring-hash', SECONDS)],
      ROUNDS,
      (target, round, result) =>
        step(
          `large-catalog:   round ${round + 1} ${target === 0 ? 'small' : 'large'}: ${fmt.int(result.rps)} req/s, p99 ${fmt.ms(result.p99Ms)}${failures(result) ? ` (${failures(result)})` : ''}`,
        ),
    );
    const rssSmall = residentBytes(small.pid);
    const rssAfter = residentBytes(large.pid);
    const ratio = largeResult.rps / smallResult.rps;
    return {
      title: 'Large catalog',
      summary:
        `${fmt.int(total)} instances (${fmt.int(SERVICES)} services × ${PER_SERVICE}) registered over HTTP with ${CONCURRENCY} requests in flight, ` +
        `then the ring-hash query of the previous section on \`web\` (one of the services). Baseline: a server holding only the ${PER_SERVICE} instances of \`web\`, ` +
        `queried alternately for ${ROUNDS} rounds of ${SECONDS} s (medians). Resident memory is VmRSS of the server process.`,
      tables: [
        goalTable([
          {
            figure: 'query req/s',
            value: fmt.int(largeResult.rps),
            baseline: fmt.int(smallResult.rps),
            ratio: fmt.percent(ratio),
            goal: '≥ 80% of the small catalog',
            met: ratio >= 0.8,
          },
          {
            figure: 'query p99',
            value: fmt.ms(largeResult.p99Ms),
            baseline: fmt.ms(smallResult.p99Ms),
            ratio: fmt.ratio(largeResult.p99Ms / smallResult.p99Ms),
            goal: '—',
            met: null,
          },
          {
            figure: 'resident memory after the queries',
            value: megabytes(rssAfter),
            baseline: megabytes(rssSmall),
            ratio: rssAfter === null || rssSmall === null ? 'n/a' : fmt.ratio(rssAfter / rssSmall),
            goal: '< 400 MB',
            met: rssAfter === null ? null : rssAfter < RSS_GOAL,
          },
          {
            figure: 'bulk registration rate (64 in flight)',
            value: `${fmt.int(total / loadSeconds)}/s`,
            baseline: '—',
            ratio: '—',
            goal: '—',
            met: null,
          },
        ]),
      ],
      command: 'npx tsx bench/large-catalog.ts',
      notes: [
        `Resident memory of the large server: ${megabytes(rssEmpty)} empty, ${megabytes(rssLoaded)} once loaded (${loadSeconds.toFixed(0)} s), ${megabytes(rssAfter)} after the queries.`,
      ],
    };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

if (isMain(import.meta.url)) console.log(renderSection(await run()));

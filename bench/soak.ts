/**
 * Soak: a steady mixed load on one Konsul for BENCH_SOAK_SECONDS (default 600) — catalog
 * queries, re-registrations from a fixed pool of ids, heartbeats (`PUT /heartbeat/:id` for
 * instances registered with `PUT /register`) and UDP DNS queries — while the server's resident
 * memory (/proc/<pid>/status) and event-loop delay (`konsul_nodejs_eventloop_lag_p99_seconds`
 * from GET /metrics, which prom-client resets at every scrape, so each sample covers the
 * interval since the last) are sampled every 10 s. The catalog's size is bounded (the ids
 * repeat), so after warm-up memory should stay flat.
 *
 *   npx tsx bench/soak.ts                               (npm run bench:soak; 10 minutes)
 *   BENCH_SOAK_SECONDS=120 npx tsx bench/soak.ts
 *
 * Not part of `npm run bench`. Writes bench/results/soak.md (git-ignored); run-all includes the
 * latest one, with its date and duration, when it exists.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { registerService } from './lib/catalog-setup.js';
import { DnsLoad } from './lib/dns-client.js';
import { registerMany, scrapeMetrics, send } from './lib/http-client.js';
import { machineLine } from './lib/machine.js';
import { megabytes, residentBytes } from './lib/proc.js';
import { ROOT, startKonsul } from './lib/processes.js';
import { step } from './lib/progress.js';
import { fmt, goalTable, isMain, renderSection, type Section } from './lib/report.js';

const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 600);
const SAMPLE_MS = 10_000;
const TICK_MS = 100;
/** Per second: the mix of a busy but not saturated catalog. */
const RATES = { queries: 400, registrations: 50, heartbeats: 100, dns: 300 };
const POOL = 2_000;
const WORKERS = 200;
const MAX_IN_FLIGHT = 64;
const GROWTH_GOAL = 0.1;
export const SOAK_FILE = join(ROOT, 'bench', 'results', 'soak.md');

interface Sample {
  second: number;
  rss: number | null;
  heapUsed: number;
  loopP99Ms: number;
  loopMeanMs: number;
  httpPerSecond: number;
  dnsPerSecond: number;
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

export async function run(): Promise<Section> {
  const konsul = await startKonsul('konsul-soak');
  const agent = new Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
  const dns = new DnsLoad(konsul.dnsPort, 'web.service.konsul');
  const timers: NodeJS.Timeout[] = [];
  try {
    step(`soak: ${SECONDS} s of mixed load; registering 100 instances of web and ${WORKERS} heartbeat workers`);
    await registerService(konsul.url, 'web', 100);
    await registerMany(
      konsul.url,
      WORKERS,
      (i) => ({ id: `worker-${i}`, name: 'worker', address: `10.1.${i >> 8}.${i & 255}`, port: 7000 }),
      { path: '/register' },
    );

    let inFlight = 0;
    let httpDone = 0;
    let httpFailed = 0;
    let skipped = 0;
    let counter = 0;
    const fire = (path: string, method: string, json?: unknown): void => {
      if (inFlight >= MAX_IN_FLIGHT) {
        skipped++;
        return;
      }
      inFlight++;
      send(`${konsul.url}${path}`, { method, agent, ...(json === undefined ? {} : { json }) })
        .then((answer) => (answer.status >= 200 && answer.status < 300 ? httpDone++ : httpFailed++))
        .catch(() => httpFailed++)
        .finally(() => inFlight--);
    };
    const perTick = (rate: number): number => Math.round((rate * TICK_MS) / 1000);
    timers.push(
      setInterval(() => {
        for (let i = 0; i < perTick(RATES.queries); i++) {
          const n = counter++;
          fire(
            `/catalog/services?name=web&lb=${n % 2 === 0 ? 'ring-hash' : 'round-robin'}&session-key=user-${n % 10_000}&limit=3`,
            'GET',
          );
        }
        for (let i = 0; i < perTick(RATES.registrations); i++) {
          const n = counter++ % POOL;
          fire('/catalog/register', 'PUT', {
            id: `soak-${n}`,
            name: `soak-${n % 20}`,
            address: `10.2.${n >> 8}.${n & 255}`,
            port: 8000 + (counter % 100),
          });
        }
        // Heartbeats go without a body: an empty body sent as application/json is refused (malformed_json).
        for (let i = 0; i < perTick(RATES.heartbeats); i++) fire(`/heartbeat/worker-${counter++ % WORKERS}`, 'PUT');
        dns.send(perTick(RATES.dns));
      }, TICK_MS),
    );

    const samples: Sample[] = [];
    const started = Date.now();
    let lastHttp = 0;
    let lastDns = 0;
    await scrapeMetrics(konsul.url, []); // resets the event-loop histogram, so the first sample covers the first interval only
    while (Date.now() - started < SECONDS * 1000) {
      await new Promise((resolveDelay) =>
        setTimeout(resolveDelay, Math.min(SAMPLE_MS, SECONDS * 1000 - (Date.now() - started))),
      );
      const metrics = await scrapeMetrics(konsul.url, [
        'konsul_nodejs_eventloop_lag_p99_seconds',
        'konsul_nodejs_eventloop_lag_mean_seconds',
        'konsul_nodejs_heap_size_used_bytes',
      ]);
      const elapsed = (Date.now() - started) / 1000;
      const interval = elapsed - (samples.at(-1)?.second ?? 0);
      const sample: Sample = {
        second: elapsed,
        rss: residentBytes(konsul.pid),
        heapUsed: metrics.konsul_nodejs_heap_size_used_bytes ?? NaN,
        loopP99Ms: (metrics.konsul_nodejs_eventloop_lag_p99_seconds ?? NaN) * 1000,
        loopMeanMs: (metrics.konsul_nodejs_eventloop_lag_mean_seconds ?? NaN) * 1000,
        httpPerSecond: (httpDone - lastHttp) / interval,
        dnsPerSecond: (dns.answered - lastDns) / interval,
      };
      lastHttp = httpDone;
      lastDns = dns.answered;
      samples.push(sample);
      step(
        `soak: ${elapsed.toFixed(0)} s: RSS ${megabytes(sample.rss)}, heap ${megabytes(sample.heapUsed)}, loop delay p99 ${sample.loopP99Ms.toFixed(1)} ms, ` +
          `${fmt.int(sample.httpPerSecond)} HTTP/s, ${fmt.int(sample.dnsPerSecond)} DNS/s, ${httpFailed} HTTP failures, ${skipped} skipped`,
      );
    }
    for (const timer of timers) clearInterval(timer);

    // Warm-up: the first quarter, at most a minute: JIT, caches and the pool of ids filling up.
    const warmup = Math.min(60, SECONDS / 4);
    const steady = samples.filter((sample) => sample.second > warmup && sample.rss !== null);
    const first = steady.at(0);
    const last = steady.at(-1);
    const growth = first !== undefined && last !== undefined ? last.rss! / first.rss! - 1 : NaN;
    const perMinute = slope(steady.map((sample) => [sample.second / 60, sample.rss! / 2 ** 20]));
    const heapPerMinute = slope(steady.map((sample) => [sample.second / 60, sample.heapUsed / 2 ** 20]));
    const section: Section = {
      title: `Soak (${(SECONDS / 60).toFixed(1)} minutes)`,
      summary:
        `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machineLine()}. Mixed load per second: ${RATES.queries} catalog queries (ring-hash and round-robin), ` +
        `${RATES.registrations} re-registrations over a pool of ${fmt.int(POOL)} ids, ${RATES.heartbeats} heartbeats to ${WORKERS} \`PUT /register\` instances, ` +
        `${RATES.dns} UDP DNS queries; at most ${MAX_IN_FLIGHT} HTTP requests in flight. Sampled every ${SAMPLE_MS / 1000} s; the first ${warmup.toFixed(0)} s are warm-up. ` +
        'Baseline: the first sample after warm-up.',
      tables: [
        goalTable([
          {
            figure: 'resident memory, end of run',
            value: megabytes(last?.rss ?? null),
            baseline: megabytes(first?.rss ?? null),
            ratio: Number.isNaN(growth) ? 'n/a' : `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%`,
            goal: `flat: grows ≤ ${fmt.percent(GROWTH_GOAL)}`,
            // Shrinking after warm-up (the GC returning start-up memory) is not a leak; only growth fails.
            met: Number.isNaN(growth) ? null : growth <= GROWTH_GOAL,
          },
          {
            figure: 'RSS trend after warm-up (least squares)',
            value: `${perMinute >= 0 ? '+' : ''}${perMinute.toFixed(2)} MB/min`,
            baseline: '—',
            ratio: '—',
            goal: '≈ 0',
            met: null,
          },
          {
            figure: 'heap-used trend after warm-up',
            value: `${heapPerMinute >= 0 ? '+' : ''}${heapPerMinute.toFixed(2)} MB/min`,
            baseline: '—',
            ratio: '—',
            goal: '≈ 0',
            met: null,
          },
          {
            figure: 'event-loop delay p99, last interval',
            value: last === undefined ? 'n/a' : `${last.loopP99Ms.toFixed(1)} ms`,
            baseline: first === undefined ? 'n/a' : `${first.loopP99Ms.toFixed(1)} ms`,
            ratio: first === undefined || last === undefined ? 'n/a' : fmt.ratio(last.loopP99Ms / first.loopP99Ms),
            goal: 'flat',
            met: null,
          },
        ]),
        {
          headers: ['s', 'RSS', 'heap used', 'loop delay p99', 'loop delay mean', 'HTTP 2xx/s', 'DNS answers/s'],
          align: ['r', 'r', 'r', 'r', 'r', 'r', 'r'],
          rows: samples.map((sample) => [
            sample.second.toFixed(0),
            megabytes(sample.rss),
            megabytes(sample.heapUsed),
            `${sample.loopP99Ms.toFixed(1)} ms`,
            `${sample.loopMeanMs.toFixed(1)} ms`,
            fmt.int(sample.httpPerSecond),
            fmt.int(sample.dnsPerSecond),
          ]),
        },
      ],
      command: `BENCH_SOAK_SECONDS=${SECONDS} npx tsx bench/soak.ts`,
      notes: [
        `HTTP: ${fmt.int(httpDone)} answered 2xx, ${fmt.int(httpFailed)} failed, ${fmt.int(skipped)} not sent because ${MAX_IN_FLIGHT} were already in flight. ` +
          `DNS: ${fmt.int(dns.answered)} answers to ${fmt.int(dns.sent)} queries. prom-client samples the event loop every 10 ms, so delays under ~10 ms read as ~10 ms.`,
      ],
    };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(SOAK_FILE, `${renderSection(section)}\n`);
    return section;
  } finally {
    for (const timer of timers) clearInterval(timer);
    dns.close();
    agent.destroy();
    await konsul.stop();
  }
}

if (isMain(import.meta.url)) console.log(renderSection(await run()));

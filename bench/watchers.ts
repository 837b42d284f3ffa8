/**
 * Blocking queries: BENCH_WATCHERS (5,000) clients, each with its own keep-alive socket, hold
 * `GET /catalog/services/web?index=<current>&wait=5m` open on one service; then one registration
 * to `web`, and the time from sending it until every watcher has its answer. Baseline: the time
 * for the same clients, on the same open sockets, to get a plain (non-blocking) answer to the
 * same query, all sent at once. The two alternate for BENCH_ROUNDS rounds; medians.
 *
 *   npx tsx bench/watchers.ts                           (npm run bench:watchers)
 *   BENCH_WATCHERS=5000 npx tsx bench/watchers.ts
 *
 * Each watcher needs a file descriptor here and one in the server, which inherits this process's
 * limit: run under `ulimit -n 12000` or more (the run stops with that advice when it is lower).
 *
 * Goal: every watcher answered within 500 ms of the registration.
 */
import { readFileSync } from 'node:fs';
import { registerService } from './lib/catalog-setup.js';
import { scrapeMetrics, sendOk } from './lib/http-client.js';
import { RawConnection } from './lib/raw-connection.js';
import { startKonsul, type KonsulProcess } from './lib/processes.js';
import { step } from './lib/progress.js';
import { fmt, goalTable, isMain, renderSection, type Section } from './lib/report.js';

const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RAMP_BATCH = 250;
const HOLD_TIMEOUT_MS = 60_000;
const ANSWER_TIMEOUT_MS = 60_000;
const GOAL_MS = 500;

interface Wave {
  /** ms from t0 until the first answer. */
  firstMs: number;
  /** ms from t0 until the last answer. */
  allMs: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
}

/** The soft open-files limit of this process (what a spawned server inherits), from /proc/self/limits. */
function openFilesLimit(): number | null {
  try {
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match === null ? null : match[1] === 'unlimited' ? Infinity : Number(match[1]);
  } catch {
    return null;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

/** Sends `path` from every client at once and resolves when all have answered; times are from `t0()`, read after the sends when `afterSend` starts the clock. */
async function wave(connections: RawConnection[], path: string, afterSend?: () => Promise<number>): Promise<Wave> {
  let t0 = performance.now();
  const answers = connections.map((connection) =>
    connection.get(path).then(
      (answer) => ({ ok: answer.status === 200, at: answer.at }),
      () => ({ ok: false, at: performance.now() }),
    ),
  );
  if (afterSend !== undefined) t0 = await afterSend();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`not every client was answered within ${ANSWER_TIMEOUT_MS / 1000} s`)),
      ANSWER_TIMEOUT_MS,
    );
  });
  const results = await Promise.race([Promise.all(answers), timeout]).finally(() => clearTimeout(timer));
  const times = results.map((result) => result.at - t0).sort((a, b) => a - b);
  return {
    firstMs: times[0],
    allMs: times[times.length - 1],
    p50Ms: percentile(times, 50),
    p99Ms: percentile(times, 99),
    failed: results.filter((result) => !result.ok).length,
  };
}

async function currentIndex(konsul: KonsulProcess): Promise<number> {
  const answer = await sendOk(`${konsul.url}/catalog/services/web`);
  return Number(answer.headers['x-konsul-index']);
}

/** Waits until the server holds `count` blocking queries (konsul_blocking_queries), bounded in time. */
async function waitForHeld(konsul: KonsulProcess, count: number): Promise<void> {
  const deadline = Date.now() + HOLD_TIMEOUT_MS;
  let held = 0;
  while (Date.now() < deadline) {
    held = (await scrapeMetrics(konsul.url, ['konsul_blocking_queries'])).konsul_blocking_queries ?? 0;
    if (held >= count) return;
    await new Promise((resolveDelay) => setTimeout(resolveDelay, 100));
  }
  throw new Error(`only ${held} of ${count} blocking queries were held after ${HOLD_TIMEOUT_MS / 1000} s`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

function medianWave(waves: Wave[]): Wave {
  return {
    firstMs: median(waves.map((w) => w.firstMs)),
    allMs: median(waves.map((w) => w.allMs)),
    p50Ms: median(waves.map((w) => w.p50Ms)),
    p99Ms: median(waves.map((w) => w.p99Ms)),
    failed: waves.reduce((sum, w) => sum + w.failed, 0),
  };
}

export async function run(): Promise<Section> {
  const limit = openFilesLimit();
  const needed = WATCHERS + 500;
  if (limit !== null && limit < needed) {
    throw new Error(
      `${WATCHERS} watchers need ${needed} open files in this process and in the server, but ulimit -n is ${limit}: run under \`ulimit -n ${needed * 2}\``,
    );
  }
  let konsul: KonsulProcess | undefined;
  // One connection per client, as separate processes would have.
  const connections: RawConnection[] = [];
  try {
    step('watchers: starting Konsul and registering 10 instances of web');
    konsul = await startKonsul('konsul');
    await registerService(konsul.url, 'web', 10);
    step(`watchers: opening ${WATCHERS} keep-alive connections, ${RAMP_BATCH} at a time`);
    for (let i = 0; i < WATCHERS; i += RAMP_BATCH) {
      const batch = Array.from(
        { length: Math.min(RAMP_BATCH, WATCHERS - i) },
        () => new RawConnection('127.0.0.1', konsul!.httpPort),
      );
      connections.push(...batch);
      await Promise.all(batch.map((connection) => connection.open()));
    }
    const baselines: Wave[] = [];
    const blocked: Wave[] = [];
    let registered = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const plain = await wave(connections, '/catalog/services/web');
      baselines.push(plain);
      step(
        `watchers:   round ${round} plain: all ${WATCHERS} answered in ${fmt.ms(plain.allMs)} (first ${fmt.ms(plain.firstMs)}, p50 ${fmt.ms(plain.p50Ms)}, p99 ${fmt.ms(plain.p99Ms)}, failed ${plain.failed})`,
      );

      const index = await currentIndex(konsul);
      const target = konsul;
      const woken = await wave(connections, `/catalog/services/web?index=${index}&wait=5m`, async () => {
        await waitForHeld(target, WATCHERS);
        const t0 = performance.now();
        // The clock starts as the registration is sent: its own durable commit is part of the figure.
        await sendOk(`${target.url}/catalog/register`, {
          method: 'PUT',
          json: { id: `late-${registered++}`, name: 'web', address: '10.9.9.9', port: 9000 + registered },
        });
        return t0;
      });
      blocked.push(woken);
      step(
        `watchers:   round ${round} blocking: all ${WATCHERS} answered ${fmt.ms(woken.allMs)} after the registration (first ${fmt.ms(woken.firstMs)}, p50 ${fmt.ms(woken.p50Ms)}, p99 ${fmt.ms(woken.p99Ms)}, failed ${woken.failed})`,
      );
    }
    const plain = medianWave(baselines);
    const woken = medianWave(blocked);
    const failed = plain.failed + woken.failed;
    return {
      title: 'Blocking queries',
      summary:
        `${fmt.int(WATCHERS)} clients, each on its own keep-alive connection, hold \`GET /catalog/services/web?index=<current>&wait=5m\` on one service ` +
        `(10 instances); once the server reports them all held (\`konsul_blocking_queries\`), one registration to \`web\`. The figure is the time from sending ` +
        "that registration until the last watcher has its answer (the registration's durable commit included). Baseline: the same clients, on the same " +
        `connections, sending the plain query all at once, timed from the first send to the last answer. ${ROUNDS} alternating rounds, medians.`,
      tables: [
        goalTable([
          {
            figure: 'time until every watcher is answered',
            value: fmt.ms(woken.allMs),
            baseline: fmt.ms(plain.allMs),
            ratio: fmt.ratio(woken.allMs / plain.allMs),
            goal: `≤ ${GOAL_MS} ms`,
            met: woken.allMs <= GOAL_MS && woken.failed === 0,
          },
          {
            figure: 'first watcher answered',
            value: fmt.ms(woken.firstMs),
            baseline: fmt.ms(plain.firstMs),
            ratio: fmt.ratio(woken.firstMs / plain.firstMs),
            goal: '—',
            met: null,
          },
          {
            figure: 'median watcher',
            value: fmt.ms(woken.p50Ms),
            baseline: fmt.ms(plain.p50Ms),
            ratio: fmt.ratio(woken.p50Ms / plain.p50Ms),
            goal: '—',
            met: null,
          },
          {
            figure: 'p99 watcher',
            value: fmt.ms(woken.p99Ms),
            baseline: fmt.ms(plain.p99Ms),
            ratio: fmt.ratio(woken.p99Ms / plain.p99Ms),
            goal: '—',
            met: null,
          },
        ]),
      ],
      command: 'npx tsx bench/watchers.ts',
      notes: [
        `The ${fmt.int(WATCHERS)} clients are raw keep-alive sockets in this one load-generating process (bench/lib/raw-connection.ts, lighter than node:http clients), ` +
          `so both figures include reading ${fmt.int(WATCHERS)} answers on the client side, on the same 2 cores as the server.` +
          (failed > 0 ? ` **${failed} requests failed** over all rounds.` : ' No request failed.'),
      ],
    };
  } finally {
    for (const connection of connections) connection.close();
    await konsul?.stop();
  }
}

if (isMain(import.meta.url)) console.log(renderSection(await run()));

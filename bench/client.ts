/**
 * What konsul/client costs per call: extra CPU of `balancer.fetch()` over a plain `fetch()` to
 * the same target in the same process. CPU is process.cpuUsage() (user + system) of the process
 * making the calls, which runs only the client side: Konsul and the target are child processes.
 * Goal: under 10 µs of extra CPU per call.
 *
 * Three levels:
 *  - end to end: both sides over loopback to bench/bare-server.ts (what a service pays; the
 *    noisiest: a call costs some 150–300 µs here, most of it the kernel's TCP path and undici).
 *    Plain calls and calls of both balancers take turns call by call in the same rounds, with
 *    garbage collections charged by the bytes each kind allocates (lib/interleaved-calls.ts says
 *    why and how), in several fresh processes (client-calls.ts), whose median is the figure;
 *  - without the socket (batches, paired as below): undici's dispatcher for the target answers in-process at once (the
 *    global one, so the plain fetch keeps its empty init), so fetch builds its Request,
 *    Response and body stream as usual and only the kernel path is gone; it is the same bytes
 *    on the same pooled connection for both sides, so this is the end-to-end difference with
 *    less noise on top;
 *  - the client's own code: fetch itself replaced by a function that answers at once.
 */
import { loadavg } from 'node:os';
import { Konsul, type Balancer } from '../src/client/index.js';
import { createSeededRandom } from '../src/lb/seeded-random.js';
import { runScript } from './lib/child-script.js';
import { STALL_US, type InterleavedResult } from './lib/interleaved-calls.js';
import { median } from './lib/load.js';
import { machineLine } from './lib/machine.js';
import { step } from './lib/progress.js';
import { startBareServer, startKonsul, withServers, type ServerProcess } from './lib/processes.js';
import { goalTable, isMain, renderSection, type Section } from './lib/report.js';

/** End to end: fresh processes, rounds in each, and calls of each kind in a round (taking turns). */
const PROCESSES = Number(process.env.BENCH_CLIENT_PROCESSES ?? 6);
const ROUNDS = Number(process.env.BENCH_CLIENT_ROUNDS ?? 20);
const ROUND_CALLS = Number(process.env.BENCH_CLIENT_ROUND_CALLS ?? 1000);
/** A process's share takes some 20 s here; this bounds a stuck one. */
const PROCESS_TIMEOUT_MS = 600_000;
/** Pairs, and calls per side, of the two in-process levels: no kernel, so less noise per call. */
const INPROC_PAIRS = Number(process.env.BENCH_CLIENT_INPROC_PAIRS ?? 20);
const INPROC_BATCH = 1_000;
const CODE_PAIRS = 10;
const CODE_BATCH = 10_000;
const INSTANCES = 3;
const GOAL_US = 10;
const PATH = '/catalog/services';
const SERVICE = 'bench-target';
/** Where undici (Node's and the npm package alike) keeps the global dispatcher. */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

interface Cpu {
  user: number;
  system: number;
}

/** Microseconds of CPU (user, system) per call for `calls` sequential calls, bodies read. */
async function cpuPerCall(call: () => Promise<Response>, calls: number): Promise<Cpu> {
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i++) await (await call()).arrayBuffer();
  const used = process.cpuUsage(before);
  return { user: used.user / calls, system: used.system / calls };
}

/** The q-quantile (0.5: the median) by linear interpolation. */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

/** 95% percentile-bootstrap interval of the median, with a fixed seed so a rerun on the same data agrees. */
function medianInterval(values: number[]): [number, number] {
  const random = createSeededRandom(0x9e3779b9);
  const medians: number[] = [];
  const sample = new Array<number>(values.length);
  for (let round = 0; round < 2000; round++) {
    for (let i = 0; i < values.length; i++) sample[i] = values[Math.floor(random() * values.length)];
    medians.push(quantile(sample, 0.5));
  }
  return [quantile(medians, 0.025), quantile(medians, 0.975)];
}

interface Paired {
  /** Per pair: balanced minus plain, CPU per call (user + system), and the user and system parts. */
  extra: number[];
  extraUser: number[];
  extraSystem: number[];
  /** Mean CPU per call of each side. */
  plain: number;
  balanced: number;
}

/**
 * `pairs` pairs of `batch` calls per side. Within a pair the sides run ABBA (half a batch of
 * one, a batch of the other, the other half of the first), and A alternates between pairs:
 * a load that rises or falls steadily through a pair weighs on both sides alike.
 */
async function paired(
  plain: () => Promise<Response>,
  balanced: () => Promise<Response>,
  pairs: number,
  batch: number,
): Promise<Paired> {
  const half = Math.max(1, Math.floor(batch / 2));
  await cpuPerCall(plain, batch);
  await cpuPerCall(balanced, batch);
  const result: Paired = { extra: [], extraUser: [], extraSystem: [], plain: 0, balanced: 0 };
  for (let pair = 0; pair < pairs; pair++) {
    const [outer, inner] = pair % 2 === 0 ? [plain, balanced] : [balanced, plain];
    const first = await cpuPerCall(outer, half);
    const middle = await cpuPerCall(inner, 2 * half);
    const last = await cpuPerCall(outer, half);
    const outerCpu = { user: (first.user + last.user) / 2, system: (first.system + last.system) / 2 };
    const [p, b] = outer === plain ? [outerCpu, middle] : [middle, outerCpu];
    result.extraUser.push(b.user - p.user);
    result.extraSystem.push(b.system - p.system);
    result.extra.push(b.user + b.system - p.user - p.system);
    result.plain += (p.user + p.system) / pairs;
    result.balanced += (b.user + b.system) / pairs;
  }
  return result;
}

interface Level {
  median: number;
  interval: [number, number];
  p25: number;
  p75: number;
  mean: number;
  userMedian: number;
  systemMedian: number;
  plain: number;
  balanced: number;
}

/** End to end, one strategy: per process, medians over its rounds of the per-round differences. */
interface EndToEnd {
  /** Balanced minus plain, collections charged by bytes (the figure), per process. */
  extra: number[];
  /** The same with collections where they fell (each round's mean of every call), per process. */
  asFallen: number[];
  /** Bytes allocated per call beyond a plain call's, per process. */
  extraBytes: number[];
  /** CPU of a plain call, collections charged, per process. */
  plain: number[];
  balanced: number[];
  /** Collection CPU per KB allocated, per process. */
  usPerKb: number[];
  /** Over all processes: calls with a collection in them, calls left out as stalled, and all calls, of each side. */
  counts: { plain: Counts; balanced: Counts };
}

interface Counts {
  collected: number;
  stalled: number;
  calls: number;
}

const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;

/** Runs client-calls.ts in `PROCESSES` fresh processes, one after another; per strategy, what each read. */
async function endToEnd(konsulProcess: ServerProcess, target: ServerProcess): Promise<Map<string, EndToEnd>> {
  const byStrategy = new Map<string, EndToEnd>();
  for (let run = 1; run <= PROCESSES; run++) {
    step(`client: end to end, process ${run} of ${PROCESSES} (${ROUNDS} rounds of ${ROUND_CALLS} calls a kind)`);
    const result = await runScript(
      'bench/client-calls.ts',
      [],
      {
        BENCH_KONSUL_URL: konsulProcess.url,
        BENCH_TARGET_URL: target.url,
        BENCH_PATH: PATH,
        BENCH_SERVICE: SERVICE,
        BENCH_ROUNDS: String(ROUNDS),
        BENCH_CALLS: String(ROUND_CALLS),
        BENCH_REVERSE: run % 2 === 0 ? '1' : '0',
      },
      PROCESS_TIMEOUT_MS,
    );
    if (!result.ok) throw new Error(`client-calls.ts failed (exit ${result.exitCode}): ${result.stderr.slice(-2000)}`);
    const measured = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as InterleavedResult & { names: string[] };
    const plain = measured.kinds[0];
    for (let kind = 1; kind < measured.kinds.length; kind++) {
      const balanced = measured.kinds[kind];
      const strategy = measured.names[kind];
      const entry = byStrategy.get(strategy) ?? {
        extra: [],
        asFallen: [],
        extraBytes: [],
        plain: [],
        balanced: [],
        usPerKb: [],
        counts: { plain: { collected: 0, stalled: 0, calls: 0 }, balanced: { collected: 0, stalled: 0, calls: 0 } },
      };
      entry.extra.push(median(balanced.charged.map((value, round) => value - plain.charged[round])));
      entry.asFallen.push(median(balanced.asFallen.map((value, round) => value - plain.asFallen[round])));
      entry.extraBytes.push(balanced.bytes - plain.bytes);
      entry.plain.push(mean(plain.charged));
      entry.balanced.push(mean(balanced.charged));
      entry.usPerKb.push(measured.usPerKb);
      for (const [side, kindRounds] of [
        [entry.counts.plain, plain],
        [entry.counts.balanced, balanced],
      ] as const) {
        side.collected += kindRounds.collected;
        side.stalled += kindRounds.stalled;
        side.calls += kindRounds.calls;
      }
      byStrategy.set(strategy, entry);
    }
  }
  return byStrategy;
}

function summarize(measured: Paired): Level {
  const extra = measured.extra;
  return {
    median: quantile(extra, 0.5),
    interval: medianInterval(extra),
    p25: quantile(extra, 0.25),
    p75: quantile(extra, 0.75),
    mean: extra.reduce((sum, value) => sum + value, 0) / extra.length,
    userMedian: quantile(measured.extraUser, 0.5),
    systemMedian: quantile(measured.extraSystem, 0.5),
    plain: measured.plain,
    balanced: measured.balanced,
  };
}

interface DispatchHandler {
  onConnect(abort: (reason?: unknown) => void): void;
  onResponseStarted?(): void;
  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: Buffer[]): void;
}

interface Dispatcher {
  dispatch(options: { origin?: unknown }, handler: DispatchHandler): boolean;
}

/**
 * Without the socket: for the target's origin the global dispatcher answers in-process, on the
 * next microtask, what the target answers (200, text/plain, "ok"); other origins (Konsul's
 * blocking queries) go to the real one. Both sides go through it: the plain fetch with its empty
 * init, the balanced one through its attempt, as on the network.
 */
async function withoutSocket<T>(targetOrigin: string, body: () => Promise<T>): Promise<T> {
  const slot = globalThis as unknown as Record<symbol, Dispatcher>;
  const real = slot[GLOBAL_DISPATCHER];
  const headers = [
    Buffer.from('content-type'),
    Buffer.from('text/plain'),
    Buffer.from('content-length'),
    Buffer.from('2'),
  ];
  const answer = Buffer.from('ok');
  const noop = (): void => {};
  slot[GLOBAL_DISPATCHER] = {
    dispatch(options, handler) {
      if (options.origin !== targetOrigin) return real.dispatch(options, handler);
      queueMicrotask(() => {
        handler.onConnect(noop);
        handler.onResponseStarted?.();
        handler.onHeaders(200, headers, noop, 'OK');
        handler.onData(answer);
        handler.onComplete([]);
      });
      return true;
    },
  };
  try {
    return await body();
  } finally {
    slot[GLOBAL_DISPATCHER] = real;
  }
}

/**
 * The client's own code per call: fetch to the target is replaced, for this measurement only,
 * by a function that answers at once, and the baseline calls that function directly. What
 * remains is picking, counting, timers and the attempt; what undici does with the attempt (its
 * dispatcher) is in the two levels above only.
 */
async function clientCodePerCall(balancer: Balancer, targetUrl: string): Promise<Paired> {
  const realFetch = globalThis.fetch;
  const answer = (): Promise<Response> => Promise.resolve(new Response('ok'));
  globalThis.fetch = (input: string | URL | Request, init?: RequestInit) =>
    typeof input === 'string' && input.startsWith(targetUrl) ? answer() : realFetch(input, init);
  try {
    return await paired(
      () => globalThis.fetch(`${targetUrl}${PATH}`),
      () => balancer.fetch(PATH),
      CODE_PAIRS,
      CODE_BATCH,
    );
  } finally {
    globalThis.fetch = realFetch;
  }
}

interface Measured {
  strategy: string;
  noSocket: Level;
  clientCode: Level;
}

async function measure(konsulProcess: ServerProcess, target: ServerProcess, strategy: string): Promise<Measured> {
  const konsul = new Konsul({ urls: [konsulProcess.url], handleSignals: false });
  try {
    const balancer = konsul.balancer(SERVICE, { strategy });
    await balancer.ready();
    const plainUrl = `${target.url}${PATH}`;
    const plain = () => fetch(plainUrl);
    const balanced = () => balancer.fetch(PATH);
    // Warm-up: JIT, connection pools, the strategy's caches.
    await cpuPerCall(plain, 1000);
    await cpuPerCall(balanced, 1000);
    const noSocket = summarize(
      await withoutSocket(new URL(target.url).origin, () => paired(plain, balanced, INPROC_PAIRS, INPROC_BATCH)),
    );
    const clientCode = summarize(await clientCodePerCall(balancer, target.url));
    const stats = balancer.stats();
    if (stats.failures > 0 || stats.retries > 0) throw new Error(`the balanced calls failed: ${JSON.stringify(stats)}`);
    return { strategy, noSocket, clientCode };
  } finally {
    await konsul.close();
  }
}

const us = (value: number): string => `${value.toFixed(1)} µs`;
const interval = (bounds: [number, number]): string => `${us(bounds[0])} to ${us(bounds[1])}`;

export async function run(): Promise<Section> {
  return withServers(
    [() => startKonsul('konsul'), () => startBareServer('target', Buffer.from('ok'), 'text/plain')],
    async ([konsulProcess, target]) => {
      for (let i = 1; i <= INSTANCES; i++) {
        // Three instances on the one target: the balancer picks among them, the target answers all.
        const response = await fetch(`${konsulProcess.url}/catalog/register`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            id: `${SERVICE}-${i}`,
            name: SERVICE,
            address: '127.0.0.1',
            port: target.httpPort,
          }),
        });
        if (response.status !== 200) throw new Error(`register: ${response.status} ${await response.text()}`);
      }
      const machine = machineLine();
      const ends = await endToEnd(konsulProcess, target);
      const results: Measured[] = [];
      for (const strategy of ['round-robin', 'p2c']) {
        step(`client: ${strategy} without the socket, and the client's own code`);
        results.push(await measure(konsulProcess, target, strategy));
      }
      const loadAtEnd = loadavg()
        .map((value) => value.toFixed(2))
        .join(' ');
      const list = (values: number[]) => values.map((value) => value.toFixed(1)).join(', ');
      const rows = results.flatMap((result) => {
        const end = ends.get(result.strategy)!;
        const extra = median(end.extra);
        return [
          {
            figure: `extra CPU per call, ${result.strategy}`,
            value: `${us(extra)} (per process: ${list(end.extra)})`,
            baseline: us(median(end.plain)),
            ratio: `${(median(end.balanced) / median(end.plain)).toFixed(2)}×`,
            goal: `< ${GOAL_US} µs`,
            met: extra < GOAL_US,
          },
          {
            figure: `the same with collections where they fell, ${result.strategy}`,
            value: `${us(median(end.asFallen))} (per process: ${list(end.asFallen)})`,
            baseline: '—',
            ratio: '—',
            goal: '—',
            met: null,
          },
          {
            figure: `the same without the socket, ${result.strategy}`,
            value: `${us(result.noSocket.median)} (95% CI ${interval(result.noSocket.interval)})`,
            baseline: us(result.noSocket.plain),
            ratio: `${(result.noSocket.balanced / result.noSocket.plain).toFixed(2)}×`,
            goal: '—',
            met: null,
          },
          {
            figure: `of which the client's own code, ${result.strategy}`,
            value: `${us(result.clientCode.median)} (95% CI ${interval(result.clientCode.interval)})`,
            baseline: '—',
            ratio: '—',
            goal: '—',
            met: null,
          },
        ];
      });
      const allocation = results
        .map((result) => {
          const end = ends.get(result.strategy)!;
          return `${result.strategy} ${median(end.extraBytes).toFixed(0)} bytes`;
        })
        .join(', ');
      const perKb = median(ends.get('round-robin')!.usPerKb);
      const share = (counts: Counts) =>
        `${counts.collected} with a collection and ${counts.stalled} stalled of ${counts.calls}`;
      const tally = [
        `plain ${share(ends.get('round-robin')!.counts.plain)}`,
        ...results.map((result) => `${result.strategy} ${share(ends.get(result.strategy)!.counts.balanced)}`),
      ].join(', ');
      const spread = (name: string, pick: (result: Measured) => Level) =>
        `${name}: ${results
          .map((result) => {
            const level = pick(result);
            return `${result.strategy} ${us(level.p25)} to ${us(level.p75)} (mean ${us(level.mean)}; user ${us(level.userMedian)}, system ${us(level.systemMedian)})`;
          })
          .join(', ')}`;
      return {
        title: 'Client',
        summary:
          `CPU of the calling process per call of \`balancer.fetch('${PATH}')\` (konsul/client, ${INSTANCES} instances, defaults: outlier ejection, ` +
          `circuit breaker, retry budget, per-try timeout) against a plain \`fetch()\` of the same target, bodies read. ` +
          `End to end: in each of ${PROCESSES} fresh processes (bench/client-calls.ts; every other one makes the two balancers in the other order), ${ROUNDS} rounds of ${ROUND_CALLS} ` +
          `sequential calls of each kind (plain, round-robin, p2c), the kinds taking turns call by call in a seeded random order, ` +
          `each call's CPU and heap growth read around it. A garbage collection (a scavenge of some 5 ms every few hundred ` +
          `calls here, a full one of 15–30 ms every few thousand) is charged by the bytes each kind allocates, not to the call ` +
          `it fell in: a call with no collection in it counts as it is; the CPU of calls with one, beyond their kind's mean, ` +
          `is spread over all bytes allocated (bench/lib/interleaved-calls.ts). "Konsul" is the median over processes of each ` +
          `process's median over rounds of balanced minus plain; "baseline" the CPU of a plain call, its two CPU ` +
          `readings included. The line after it is the same with collections where they fell (each round's mean of every call), ` +
          `as this section measured before: the same cost with more noise. ` +
          `Konsul and the target (bench/bare-server.ts) run in their own processes. "Without the socket" runs pairs of batches ` +
          `(${INPROC_PAIRS} pairs of ${INPROC_BATCH} calls per side, each pair ABBA: half the calls of one side, all of the other, ` +
          `the other half of the first) with undici's dispatcher answering the target in-process at once: ` +
          `fetch's Request, Response and body stream are all there, only the kernel's TCP path (the same for both sides) is not. ` +
          `"Of which the client's own code" replaces fetch itself by a function ` +
          `that answers at once (${CODE_PAIRS} pairs of ${CODE_BATCH}). ${machine}, ${loadAtEnd} at the end.`,
        tables: [goalTable(rows)],
        command: 'npm run bench:client',
        notes: [
          `End to end, a balanced call allocated beyond a plain one (median over processes): ${allocation}; ` +
            `collections cost ${perKb.toFixed(2)} µs of CPU per KB allocated. Calls end to end (all processes): ${tally} ` +
            `(stalled: over ${STALL_US} µs with no collection, left out of the means). ` +
            `Spread of the per-pair differences of the batch levels (25th–75th percentile), their mean (which keeps ` +
            `garbage-collection spikes), and the medians of the user and system parts: ` +
            `${spread('without the socket', (result) => result.noSocket)}; ` +
            `${spread("client's own code", (result) => result.clientCode)}. ` +
            "CPU is counted in the bench process because the client runs in its caller's process: what it adds there is what a service pays.",
        ],
      };
    },
  );
}

if (isMain(import.meta.url)) {
  console.log(renderSection(await run()));
  process.exit(0);
}

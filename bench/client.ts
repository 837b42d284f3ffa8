/**
 * What konsul/client costs per call: extra CPU of `balancer.fetch()` over a plain `fetch()` to
 * the same target in the same process, in paired rounds (plain and balanced alternate, each
 * round starting with the other), medians of the per-round differences. CPU is
 * process.cpuUsage() (user + system) of the bench process, which runs only the client side:
 * Konsul and the target are child processes. Goal: under 10 µs of extra CPU per call.
 */
import { loadavg } from 'node:os';
import { Konsul, type Balancer } from '../src/client/index.js';
import { machineLine } from './lib/machine.js';
import { startBareServer, startKonsul, withServers, type ServerProcess } from './lib/processes.js';
import { goalTable, isMain, renderSection, type Section } from './lib/report.js';

/** Calls per batch; a pair is one plain and one balanced batch, back to back. */
const BATCH = Number(process.env.BENCH_CLIENT_BATCH ?? 25);
/** Pairs per strategy. Small batches in many pairs: load swings on a shared machine hit both sides of a pair alike. */
const PAIRS = Number(process.env.BENCH_CLIENT_PAIRS ?? 400);
const INSTANCES = 3;
const GOAL_US = 10;

/** Microseconds of CPU per call for `calls` sequential calls, bodies read. */
async function cpuPerCall(call: () => Promise<Response>, calls: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i++) await (await call()).arrayBuffer();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / calls;
}

/** The q-quantile (0.5: the median) by linear interpolation. */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

/** Pairs, and calls per batch, of the in-process decomposition below: no I/O, so few and large. */
const CODE_PAIRS = 10;
const CODE_BATCH = 20_000;

/**
 * The client's own code per call, without the network: fetch to the target is replaced, for
 * this measurement only, by a function that answers at once, and the baseline calls that
 * function directly. What remains is picking, counting, timers and the attempt; what undici
 * does with the attempt (its dispatcher) is in the end-to-end figure only.
 */
async function clientCodePerCall(balancer: Balancer, targetUrl: string): Promise<number> {
  const realFetch = globalThis.fetch;
  const answer = (): Promise<Response> => Promise.resolve(new Response('ok'));
  globalThis.fetch = (input: string | URL | Request, init?: RequestInit) =>
    typeof input === 'string' && input.startsWith(targetUrl) ? answer() : realFetch(input, init);
  try {
    const stubbed = () => globalThis.fetch(`${targetUrl}/`);
    const balanced = () => balancer.fetch('/');
    await cpuPerCall(stubbed, CODE_BATCH);
    await cpuPerCall(balanced, CODE_BATCH);
    const extra: number[] = [];
    for (let pair = 0; pair < CODE_PAIRS; pair++) {
      const first = pair % 2 === 0 ? stubbed : balanced;
      const a = await cpuPerCall(first, CODE_BATCH);
      const b = await cpuPerCall(first === stubbed ? balanced : stubbed, CODE_BATCH);
      extra.push(first === stubbed ? b - a : a - b);
    }
    return quantile(extra, 0.5);
  } finally {
    globalThis.fetch = realFetch;
  }
}

async function measure(konsulProcess: ServerProcess, target: ServerProcess, strategy: string) {
  const konsul = new Konsul({ urls: [konsulProcess.url], handleSignals: false });
  try {
    const balancer = konsul.balancer('bench-target', { strategy });
    await balancer.ready();
    const plainUrl = `${target.url}/`;
    const plain = () => fetch(plainUrl);
    const balanced = () => balancer.fetch('/');
    // Warm-up: JIT, connection pools, the strategy's caches.
    await cpuPerCall(plain, 500);
    await cpuPerCall(balanced, 500);
    const extra: number[] = [];
    let plainTotal = 0;
    let balancedTotal = 0;
    for (let pair = 0; pair < PAIRS; pair++) {
      let p: number;
      let b: number;
      if (pair % 2 === 0) {
        p = await cpuPerCall(plain, BATCH);
        b = await cpuPerCall(balanced, BATCH);
      } else {
        b = await cpuPerCall(balanced, BATCH);
        p = await cpuPerCall(plain, BATCH);
      }
      plainTotal += p;
      balancedTotal += b;
      extra.push(b - p);
    }
    const clientCode = await clientCodePerCall(balancer, target.url);
    const stats = balancer.stats();
    if (stats.failures > 0 || stats.retries > 0) throw new Error(`the balanced calls failed: ${JSON.stringify(stats)}`);
    return {
      strategy,
      plain: plainTotal / PAIRS,
      balanced: balancedTotal / PAIRS,
      extra: quantile(extra, 0.5),
      extraP25: quantile(extra, 0.25),
      extraP75: quantile(extra, 0.75),
      extraMean: (balancedTotal - plainTotal) / PAIRS,
      clientCode,
    };
  } finally {
    await konsul.close();
  }
}

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
            id: `bench-target-${i}`,
            name: 'bench-target',
            address: '127.0.0.1',
            port: target.httpPort,
          }),
        });
        if (response.status !== 200) throw new Error(`register: ${response.status} ${await response.text()}`);
      }
      const results = [];
      const machine = machineLine();
      for (const strategy of ['round-robin', 'p2c']) results.push(await measure(konsulProcess, target, strategy));
      const loadAtEnd = loadavg()
        .map((value) => value.toFixed(2))
        .join(' ');
      const rows = results.flatMap((result) => [
        {
          figure: `extra CPU per call, ${result.strategy}`,
          value: `${result.extra.toFixed(1)} µs (mean ${result.extraMean.toFixed(1)} µs)`,
          baseline: `${result.plain.toFixed(1)} µs`,
          ratio: `${(result.balanced / result.plain).toFixed(2)}×`,
          goal: `< ${GOAL_US} µs`,
          met: result.extra < GOAL_US,
        },
        {
          figure: `of which the client's own code (no I/O), ${result.strategy}`,
          value: `${result.clientCode.toFixed(1)} µs`,
          baseline: '—',
          ratio: '—',
          goal: '—',
          met: null,
        },
      ]);
      return {
        title: 'Client',
        summary:
          `CPU of the bench process per call of \`balancer.fetch('/')\` (konsul/client, ${INSTANCES} instances, defaults: outlier ejection, ` +
          `circuit breaker, retry budget, per-try timeout) against a plain \`fetch()\` of the same target: ${PAIRS} pairs of batches of ` +
          `${BATCH} sequential calls (plain then balanced, or the reverse, alternating), bodies read. "Konsul" is the median over pairs of ` +
          `balanced minus plain per call (the mean in brackets, which keeps garbage-collection spikes), "baseline" the mean CPU of a plain call. ` +
          `Konsul and the target (bench/bare-server.ts) run in their own processes. "Of which the client's own code" runs the same calls ` +
          `with fetch to the target answered in-process at once (${CODE_PAIRS} pairs of ${CODE_BATCH} calls against calling that answer directly, median): ` +
          `the part of the figure above that no network noise hides. ${machine}, ${loadAtEnd} at the end.`,
        tables: [goalTable(rows)],
        command: 'npm run bench:client',
        notes: [
          `Spread of the per-pair differences (25th–75th percentile): ${results
            .map((result) => `${result.strategy} ${result.extraP25.toFixed(1)} to ${result.extraP75.toFixed(1)} µs`)
            .join(', ')}. ` +
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

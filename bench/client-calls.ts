/**
 * One process's share of bench/client.ts's end-to-end level: plain fetch() calls and calls of a
 * round-robin and a p2c balancer, to the same target, in the same rounds (lib/interleaved-calls.ts).
 * Run by bench/client.ts in several fresh processes, since a process keeps what it is dealt (which
 * code V8 optimized when, where the heap lies): on this machine one process read 5 µs for what the
 * next read 13. Prints one JSON line: the kinds' names and the InterleavedResult, kinds in that order.
 *
 * Environment: BENCH_KONSUL_URL, BENCH_TARGET_URL, BENCH_PATH, BENCH_SERVICE, BENCH_ROUNDS, BENCH_CALLS,
 * BENCH_REVERSE (1: make the balancers in the reverse order).
 */
import { Konsul } from '../src/client/index.js';
import { interleavedCalls, type Call } from './lib/interleaved-calls.js';

const KINDS = ['plain', 'round-robin', 'p2c'] as const;
/** Calls of each kind before measuring: JIT, connection pools, the strategies' state. */
const WARM_UP_CALLS = 3000;

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

const path = required('BENCH_PATH');
const plainUrl = `${required('BENCH_TARGET_URL')}${path}`;
const konsul = new Konsul({ urls: [required('BENCH_KONSUL_URL')], handleSignals: false });
try {
  const service = required('BENCH_SERVICE');
  // Every other process makes the balancers in the other order: in one process, the balancer
  // made second read some µs dearer, whichever strategy it ran.
  const strategies = KINDS.slice(1);
  const made = process.env.BENCH_REVERSE === '1' ? [...strategies].reverse() : strategies;
  const byStrategy = new Map(made.map((strategy) => [strategy, konsul.balancer(service, { strategy })]));
  const balancers = strategies.map((strategy) => byStrategy.get(strategy)!);
  const calls: Call[] = [() => fetch(plainUrl)];
  for (const balancer of balancers) {
    await balancer.ready();
    calls.push(() => balancer.fetch(path));
  }
  for (let i = 0; i < WARM_UP_CALLS; i++) for (const call of calls) await (await call()).arrayBuffer();
  const result = await interleavedCalls(calls, Number(required('BENCH_ROUNDS')), Number(required('BENCH_CALLS')));
  for (const balancer of balancers) {
    const stats = balancer.stats();
    if (stats.failures > 0 || stats.retries > 0) throw new Error(`the balanced calls failed: ${JSON.stringify(stats)}`);
  }
  process.stdout.write(`${JSON.stringify({ names: KINDS, ...result })}\n`);
} finally {
  await konsul.close();
}

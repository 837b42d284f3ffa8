/** The autocannon wrapper: one load run, reduced to the figures the report uses. */
import autocannon, { type RequestStep } from 'autocannon';
import { cpuMicros } from './cpu.js';

export interface LoadOptions {
  url: string;
  seconds: number;
  connections?: number;
  pipelining?: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Called per request to vary its path or body (distinct ids, varying session keys). */
  setupRequest?: RequestStep['setupRequest'];
  /** The server's process id: its CPU time over the run, from /proc, gives `cpuPerRequestUs`. */
  serverPid?: number;
}

export interface LoadResult {
  /** Mean successful (2xx) requests per second over the run. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  ok: number;
  non2xx: number;
  errors: number;
  seconds: number;
  /**
   * CPU time (user + system) of the server process per 2xx answer, in µs, from /proc; null when
   * not asked for or unreadable. Steadier than req/s when the load generator shares the cores:
   * a server starved of CPU answers fewer requests per second but not at a higher cost each.
   */
  cpuPerRequestUs: number | null;
}

export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const requests: RequestStep[] | undefined =
    options.setupRequest === undefined
      ? undefined
      : [{ method: options.method ?? 'GET', setupRequest: options.setupRequest }];
  const cpuBefore = options.serverPid === undefined ? null : cpuMicros(options.serverPid);
  return new Promise((resolveResult, reject) => {
    autocannon(
      {
        url: options.url,
        duration: options.seconds,
        connections: options.connections ?? 50,
        pipelining: options.pipelining ?? 1,
        timeout: 10,
        method: options.method ?? 'GET',
        ...(options.headers === undefined ? {} : { headers: options.headers }),
        ...(options.body === undefined ? {} : { body: options.body }),
        ...(requests === undefined ? {} : { requests }),
      },
      (error, result) => {
        if (error !== null) {
          reject(error);
          return;
        }
        // requests.average counts every answer; the figure we report counts only 2xx ones,
        // so an error storm can never look like throughput.
        const ok = result['2xx'];
        const cpuAfter = options.serverPid === undefined ? null : cpuMicros(options.serverPid);
        resolveResult({
          rps: ok / result.duration,
          p50Ms: result.latency.p50,
          p99Ms: result.latency.p99,
          ok,
          non2xx: result.non2xx,
          errors: result.errors,
          seconds: result.duration,
          cpuPerRequestUs: cpuBefore === null || cpuAfter === null || ok === 0 ? null : (cpuAfter - cpuBefore) / ok,
        });
      },
    );
  });
}

/** A short description of a run's failures, or '' when every request got a 2xx. */
export function failures(result: LoadResult): string {
  const parts: string[] = [];
  if (result.non2xx > 0) parts.push(`${result.non2xx} non-2xx`);
  if (result.errors > 0) parts.push(`${result.errors} errors`);
  return parts.join(', ');
}

/**
 * Runs each target once per round, alternating (A B A B …), and keeps the median of each figure.
 * On a shared 2-core machine a burst of someone else's work lands on one run; alternating
 * spreads it over both sides and the median drops it, so the ratio stays meaningful.
 */
export async function interleaved(
  targets: (() => Promise<LoadResult>)[],
  rounds: number,
  onRun?: (target: number, round: number, result: LoadResult) => void,
): Promise<LoadResult[]> {
  const runs: LoadResult[][] = targets.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, target] of targets.entries()) {
      const result = await target();
      runs[i].push(result);
      onRun?.(i, round, result);
    }
  }
  return runs.map(medianOf);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The median of each figure over several runs; failures are summed, since any failure matters. */
export function medianOf(results: LoadResult[]): LoadResult {
  return {
    rps: median(results.map((result) => result.rps)),
    p50Ms: median(results.map((result) => result.p50Ms)),
    p99Ms: median(results.map((result) => result.p99Ms)),
    cpuPerRequestUs: results.some((result) => result.cpuPerRequestUs === null)
      ? null
      : median(results.map((result) => result.cpuPerRequestUs!)),
    ok: results.reduce((sum, result) => sum + result.ok, 0),
    non2xx: results.reduce((sum, result) => sum + result.non2xx, 0),
    errors: results.reduce((sum, result) => sum + result.errors, 0),
    seconds: results.reduce((sum, result) => sum + result.seconds, 0),
  };
}

/** Two targets' runs paired by round: the median of each figure, and the median of the per-round ratios. */
export interface PairedRounds {
  subject: LoadResult;
  baseline: LoadResult;
  /** Median over rounds of baseline CPU per request / subject CPU per request (1 = as cheap as the baseline); null without CPU figures. */
  cpuRatio: number | null;
  /** Median over rounds of subject req/s / baseline req/s. */
  rpsRatio: number;
  /** Median over rounds of subject p99 / baseline p99. */
  p99Ratio: number;
}

/**
 * interleaved() for a subject and its baseline, keeping the per-round ratios: a burst of other
 * work lands on both sides of one round far more often than on one side of every round, so
 * the median of the per-round ratios is steadier than the ratio of the medians.
 */
export async function pairedRounds(
  subject: () => Promise<LoadResult>,
  baseline: () => Promise<LoadResult>,
  rounds: number,
  onRun?: (target: number, round: number, result: LoadResult) => void,
): Promise<PairedRounds> {
  const runs: LoadResult[][] = [[], []];
  await interleaved([subject, baseline], rounds, (target, round, result) => {
    runs[target].push(result);
    onRun?.(target, round, result);
  });
  const [ours, theirs] = runs;
  const cpu = ours.every((run, i) => run.cpuPerRequestUs !== null && theirs[i].cpuPerRequestUs !== null);
  return {
    subject: medianOf(ours),
    baseline: medianOf(theirs),
    cpuRatio: cpu ? median(ours.map((run, i) => theirs[i].cpuPerRequestUs! / run.cpuPerRequestUs!)) : null,
    rpsRatio: median(ours.map((run, i) => run.rps / theirs[i].rps)),
    p99Ratio: median(ours.map((run, i) => run.p99Ms / Math.max(theirs[i].p99Ms, 1e-3))),
  };
}

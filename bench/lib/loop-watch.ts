/**
 * Watches a Konsul process while a benchmark abuses it: the server's own event-loop delay
 * (prom-client's monitorEventLoopDelay histogram, `konsul_nodejs_eventloop_lag_*`, which
 * resets at every scrape, so a scrape at the start and one at the end bracket a phase) and
 * whether `/health/live` keeps answering, probed every PROBE_MS over its own socket.
 *
 * The histogram holds the time between two of its samples, the sampling interval included (an
 * idle loop reads about EVENT_LOOP_SAMPLE_MS), so the figures here are what a reading exceeds
 * that interval by: how long the loop was blocked.
 *
 * The same two scrapes bracket the server's garbage-collection pauses
 * (`konsul_nodejs_gc_duration_seconds`, cumulative): how many fell in the phase, their total, and
 * the bucket of the longest, so a stall can be told apart from a collection that caused it.
 */
import { Agent } from 'node:http';
import { EVENT_LOOP_SAMPLE_MS, GC_PAUSE_BUCKETS_SECONDS } from '../../src/metrics/registry.js';
import { scrapeMetrics, send } from './http-client.js';
import type { StallProbe } from './processes.js';
import type { StallReading } from './stall-probe.js';

const PROBE_MS = 25;
const PROBE_TIMEOUT_MS = 10_000;
const LAG_SERIES = ['konsul_nodejs_eventloop_lag_max_seconds', 'konsul_nodejs_eventloop_lag_p99_seconds'];
/** prom-client's kinds of collection (V8's GC types): scavenges, mark-compacts, incremental marking steps, weak callbacks. */
const GC_KINDS = ['minor', 'major', 'incremental', 'weakcb'];
const GC_BOUNDS = [...GC_PAUSE_BUCKETS_SECONDS.map(String), '+Inf'];
const gcBucket = (kind: string, bound: string): string =>
  `konsul_nodejs_gc_duration_seconds_bucket{le="${bound}",kind="${kind}"}`;
const gcSum = (kind: string): string => `konsul_nodejs_gc_duration_seconds_sum{kind="${kind}"}`;
const GC_SERIES = GC_KINDS.flatMap((kind) => [...GC_BOUNDS.map((bound) => gcBucket(kind, bound)), gcSum(kind)]);
const SERIES = [...LAG_SERIES, ...GC_SERIES];

export interface LoopObservation {
  /** Longest event-loop stall the server saw during the phase (beyond its sampling interval). */
  loopMaxMs: number;
  /** The 99th percentile of the same. */
  loopP99Ms: number;
  probes: number;
  /** Probes that failed, timed out or answered anything but 200. */
  probeFailures: number;
  probeMedianMs: number;
  probeMaxMs: number;
  seconds: number;
  /** Garbage-collection pauses of the server during the phase, all kinds. */
  gcPauses: number;
  gcTotalMs: number;
  /** The bucket the longest pause fell in, in ms: (lower, upper]; [0, 0] when there was none. */
  gcLongestMs: [number, number];
  /** What the server's stall probe saw (bench/lib/stall-probe.ts), when it has one. */
  stall?: StallReading;
}

export class LoopWatch {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private running = false;
  private probing: Promise<void> = Promise.resolve();
  private latencies: number[] = [];
  private failures = 0;
  private started = 0;
  private gcBefore: Partial<Record<string, number>> = {};

  constructor(
    private readonly baseUrl: string,
    /** The server's stall probe, if it was started with one (startKonsul's `stallProbe`). */
    private readonly stallProbe?: StallProbe,
  ) {}

  async start(): Promise<void> {
    this.gcBefore = await scrapeMetrics(this.baseUrl, SERIES);
    await this.stallProbe?.reset();
    this.latencies = [];
    this.failures = 0;
    this.running = true;
    this.started = performance.now();
    this.probing = this.probe();
  }

  async stop(): Promise<LoopObservation> {
    this.running = false;
    await this.probing;
    const seconds = (performance.now() - this.started) / 1000;
    const stall = await this.stallProbe?.read();
    const lag = await scrapeMetrics(this.baseUrl, SERIES);
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return {
      loopMaxMs: stallMs(secondsOf(lag, 'konsul_nodejs_eventloop_lag_max_seconds')),
      loopP99Ms: stallMs(secondsOf(lag, 'konsul_nodejs_eventloop_lag_p99_seconds')),
      probes: this.latencies.length + this.failures,
      probeFailures: this.failures,
      probeMedianMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length >> 1],
      probeMaxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1],
      seconds,
      ...gcDuring(this.gcBefore, lag),
      ...(stall === undefined ? {} : { stall }),
    };
  }

  close(): void {
    this.agent.destroy();
  }

  private async probe(): Promise<void> {
    while (this.running) {
      const sent = performance.now();
      try {
        const answer = await send(`${this.baseUrl}/health/live`, { agent: this.agent, timeoutMs: PROBE_TIMEOUT_MS });
        if (answer.status === 200) this.latencies.push(performance.now() - sent);
        else this.failures++;
      } catch {
        this.failures++;
      }
      const wait = PROBE_MS - (performance.now() - sent);
      if (wait > 0) await new Promise((resolveWait) => setTimeout(resolveWait, wait));
    }
  }
}

/** How long a sample of `seconds` shows the loop blocked: what it exceeds the sampling interval by. */
function stallMs(seconds: number): number {
  return Math.max(0, seconds * 1000 - EVENT_LOOP_SAMPLE_MS);
}

/** A scraped series, NaN when the server did not report it. */
function secondsOf(values: Partial<Record<string, number>>, name: string): number {
  return values[name] ?? Number.NaN;
}

/** The pauses counted between two scrapes of the GC histogram, and the bucket of the longest. */
function gcDuring(
  before: Partial<Record<string, number>>,
  after: Partial<Record<string, number>>,
): Pick<LoopObservation, 'gcPauses' | 'gcTotalMs' | 'gcLongestMs'> {
  const moved = (name: string): number => (after[name] ?? 0) - (before[name] ?? 0);
  let pauses = 0;
  let totalMs = 0;
  let longest: [number, number] = [0, 0];
  for (const kind of GC_KINDS) {
    const count = moved(gcBucket(kind, '+Inf'));
    if (count <= 0) continue;
    pauses += count;
    totalMs += moved(gcSum(kind)) * 1000;
    // Cumulative buckets: the longest pause is in the first bucket that already holds them all.
    const index = GC_BOUNDS.findIndex((bound) => moved(gcBucket(kind, bound)) >= count);
    const upper = index < GC_PAUSE_BUCKETS_SECONDS.length ? GC_PAUSE_BUCKETS_SECONDS[index] * 1000 : Infinity;
    const lower = index === 0 ? 0 : GC_PAUSE_BUCKETS_SECONDS[index - 1] * 1000;
    if (upper > longest[1]) longest = [lower, upper];
  }
  return { gcPauses: pauses, gcTotalMs: totalMs, gcLongestMs: longest };
}

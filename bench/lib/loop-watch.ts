/**
 * Watches a Konsul process while a benchmark abuses it: the server's own event-loop delay
 * (prom-client's monitorEventLoopDelay histogram, `konsul_nodejs_eventloop_lag_*`, which
 * resets at every scrape, so a scrape at the start and one at the end bracket a phase) and
 * whether `/health/live` keeps answering, probed every PROBE_MS over its own socket.
 *
 * The histogram holds the time between two of its samples, the sampling interval included (an
 * idle loop reads about EVENT_LOOP_SAMPLE_MS), so the figures here are what a reading exceeds
 * that interval by: how long the loop was blocked.
 */
import { Agent } from 'node:http';
import { EVENT_LOOP_SAMPLE_MS } from '../../src/metrics/registry.js';
import { scrapeMetrics, send } from './http-client.js';

const PROBE_MS = 25;
const PROBE_TIMEOUT_MS = 10_000;
const LAG_SERIES = ['konsul_nodejs_eventloop_lag_max_seconds', 'konsul_nodejs_eventloop_lag_p99_seconds'];

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
}

export class LoopWatch {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private running = false;
  private probing: Promise<void> = Promise.resolve();
  private latencies: number[] = [];
  private failures = 0;
  private started = 0;

  constructor(private readonly baseUrl: string) {}

  async start(): Promise<void> {
    await scrapeMetrics(this.baseUrl, LAG_SERIES);
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
    const lag = await scrapeMetrics(this.baseUrl, LAG_SERIES);
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return {
      loopMaxMs: stallMs(secondsOf(lag, 'konsul_nodejs_eventloop_lag_max_seconds')),
      loopP99Ms: stallMs(secondsOf(lag, 'konsul_nodejs_eventloop_lag_p99_seconds')),
      probes: this.latencies.length + this.failures,
      probeFailures: this.failures,
      probeMedianMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length >> 1],
      probeMaxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1],
      seconds,
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

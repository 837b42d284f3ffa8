/**
 * Optional outcome reports to Konsul (`POST /catalog/instances/:id/outcomes`), so the server's
 * outlier ejection (src/lb/outliers.ts) drops from every answer, HTTP and DNS, an instance this
 * client sees failing. Coalesced: outcomes are counted per instance and sent once per interval,
 * one POST per instance with the counts since the last one, at most one in flight per instance
 * (an instance whose last report has not ended keeps counting and goes in the next round).
 * The pending map holds at most `maxPending` instances; outcomes of another instance are
 * dropped and counted, as are the counts of a report Konsul did not accept. Nothing here is
 * awaited by a call: a report never delays or fails the user's request.
 *
 * One timer on the client's clock, armed only while outcomes are pending, so an idle balancer
 * holds none. The server reads a report's successes before its failures (docs/api.md): the
 * failure streak it sees is the interval's failures when there were successes in it.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { KonsulHttp } from './konsul-http.js';
import type { ClientObserver } from './observer.js';

interface PendingOutcomes {
  successes: number;
  failures: number;
  /** A report for this instance is in flight. */
  sending: boolean;
}

export interface OutcomeReportStats {
  /** POSTs Konsul accepted. */
  sent: number;
  /** POSTs that failed (Konsul unreachable, refused or timed out); their counts were dropped. */
  failed: number;
  /** Outcomes dropped: those of failed POSTs, and those of instances beyond the pending bound. */
  dropped: number;
}

/** The server's cap on one count in a report (src/http/routes/outcomes.ts). */
const MAX_PER_REPORT = 1_000_000;

export class OutcomeReporter {
  private readonly pending = new Map<string, PendingOutcomes>();
  private readonly counters: OutcomeReportStats = { sent: 0, failed: 0, dropped: 0 };
  private timer: TimerHandle | undefined = undefined;
  private closed = false;

  constructor(
    private readonly service: string,
    private readonly http: KonsulHttp,
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly maxPending: number,
    private readonly timeoutMs: number,
    private readonly observer: ClientObserver | undefined,
  ) {}

  record(instanceId: string, failed: boolean): void {
    if (this.closed) return;
    let entry = this.pending.get(instanceId);
    if (entry === undefined) {
      if (this.pending.size >= this.maxPending) {
        this.counters.dropped++;
        return;
      }
      entry = { successes: 0, failures: 0, sending: false };
      this.pending.set(instanceId, entry);
    }
    if (failed) entry.failures++;
    else entry.successes++;
    this.timer ??= this.clock.setTimeout(() => this.flush(), this.intervalMs);
  }

  stats(): OutcomeReportStats {
    return { ...this.counters };
  }

  /** Stops reporting; pending counts are dropped (the client is going away). */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private flush(): void {
    this.timer = undefined;
    for (const [instanceId, entry] of this.pending) {
      if (entry.sending) continue;
      if (entry.successes === 0 && entry.failures === 0) {
        this.pending.delete(instanceId);
        continue;
      }
      this.send(instanceId, entry);
    }
    // Instances whose report was in flight still hold counts: they go in the next round.
    for (const entry of this.pending.values()) {
      if (entry.successes > 0 || entry.failures > 0) {
        this.timer = this.clock.setTimeout(() => this.flush(), this.intervalMs);
        break;
      }
    }
  }

  private send(instanceId: string, entry: PendingOutcomes): void {
    const successes = Math.min(entry.successes, MAX_PER_REPORT);
    const failures = Math.min(entry.failures, MAX_PER_REPORT);
    this.counters.dropped += entry.successes - successes + entry.failures - failures;
    entry.successes = 0;
    entry.failures = 0;
    entry.sending = true;
    this.http
      .call({
        method: 'POST',
        path: `/catalog/instances/${encodeURIComponent(instanceId)}/outcomes`,
        body: { successes, failures },
        timeoutMs: this.timeoutMs,
      })
      .then(
        () => {
          this.counters.sent++;
          return true;
        },
        () => {
          this.counters.failed++;
          this.counters.dropped += successes + failures;
          return false;
        },
      )
      .then((ok) => {
        entry.sending = false;
        // An instance with nothing new since is forgotten, so the map holds only active ones.
        if (entry.successes === 0 && entry.failures === 0 && this.pending.get(instanceId) === entry)
          this.pending.delete(instanceId);
        this.observer?.outcomeReport?.(this.service, instanceId, ok);
      })
      // A throwing metrics hook must not become an unhandled rejection that ends the process.
      .catch(() => undefined);
  }
}

/**
 * Optional load reports to Konsul (`PUT /catalog/instances/:id/load`), so the server's own
 * least-connections, p2c and latency-based answers see what this client sees. Rate-limited per
 * instance to one report per interval, at most one in flight per instance, sent after a
 * call ends (no timer of its own), and never awaited by the call. The server keeps the last
 * `connections` it was sent: with several clients, each report is one client's in-flight count.
 */
import type { InstanceState } from './instance-state.js';
import type { KonsulHttp } from './konsul-http.js';

export class LoadReporter {
  sent = 0;
  failed = 0;

  constructor(
    private readonly http: KonsulHttp,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
  ) {}

  maybeReport(state: InstanceState, now: number): void {
    if (state.reporting || now - state.reportedAt < this.intervalMs) return;
    state.reportedAt = now;
    state.reporting = true;
    const body: { connections: number; latencyMs?: number } = { connections: state.inFlight };
    if (!Number.isNaN(state.latencyMs)) body.latencyMs = Math.round(state.latencyMs * 1000) / 1000;
    this.http
      .call({
        method: 'PUT',
        path: `/catalog/instances/${encodeURIComponent(state.instance.id)}/load`,
        body,
        timeoutMs: this.timeoutMs,
      })
      .then(
        () => this.sent++,
        () => this.failed++,
      )
      .finally(() => {
        state.reporting = false;
      });
  }
}

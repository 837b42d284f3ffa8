/**
 * A per-instance circuit breaker: closed while the failure share of its last `window`
 * outcomes stays under `failureRatio`; then open, refusing calls for `openMs`; then half-open,
 * letting `halfOpenProbes` calls through at once: a probe that succeeds closes it (with a
 * clean window), one that fails opens it again. Time is read, never waited on: no timers.
 */
import type { ResolvedBreaker } from './options.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  state: BreakerState = 'closed';
  /** Times it opened. */
  opens = 0;
  private openUntil = 0;
  private probes = 0;
  private readonly outcomes: Uint8Array;
  private next = 0;
  private count = 0;
  private failures = 0;

  constructor(private readonly config: ResolvedBreaker) {
    this.outcomes = new Uint8Array(config.window);
  }

  /** True when a call may go to the instance now. */
  available(now: number): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') return now >= this.openUntil;
    return this.probes < this.config.halfOpenProbes;
  }

  /** The call is going ahead (after available() said yes). */
  begin(now: number): void {
    if (this.state === 'open' && now >= this.openUntil) {
      this.state = 'half-open';
      this.probes = 0;
    }
    if (this.state === 'half-open') this.probes++;
  }

  /** Records an outcome; true when this outcome opened the breaker. */
  record(success: boolean, now: number): boolean {
    const config = this.config;
    if (this.state === 'half-open') {
      this.probes--;
      if (success) {
        this.state = 'closed';
        this.reset();
        return false;
      }
      return this.open(now);
    }
    if (this.state === 'open') return false;
    const window = this.outcomes.length;
    if (this.count === window) this.failures -= this.outcomes[this.next];
    else this.count++;
    const failed = success ? 0 : 1;
    this.outcomes[this.next] = failed;
    this.failures += failed;
    this.next = this.next + 1 === window ? 0 : this.next + 1;
    if (!success && this.count >= config.minRequests && this.failures / this.count >= config.failureRatio)
      return this.open(now);
    return false;
  }

  private open(now: number): boolean {
    this.state = 'open';
    this.openUntil = now + this.config.openMs;
    this.opens++;
    this.reset();
    return true;
  }

  private reset(): void {
    this.outcomes.fill(0);
    this.next = 0;
    this.count = 0;
    this.failures = 0;
    this.probes = 0;
  }
}

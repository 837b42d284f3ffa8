import { MAX_TIMER_MS, type Clock, type TimerHandle } from '../clock.js';

export { MAX_TIMER_MS };

/**
 * One-shot timers by key: setting a key again replaces its timer. Used for TTL deadlines and
 * deregister-critical-after deadlines, which are few (one per such check) and rarely move, so a
 * plain timer each is simpler than the scheduler's heap. Timers are not unref'd: each is a
 * write to come, and stop() clears them all.
 */
export class Deadlines {
  private readonly timers = new Map<string, TimerHandle>();

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.timers.size;
  }

  has(key: string): boolean {
    return this.timers.has(key);
  }

  /** Runs `fire` at epoch ms `at` (at once if it has passed), unless set again or cancelled first. */
  set(key: string, at: number, fire: () => void): void {
    this.cancel(key);
    const remaining = Math.max(at - this.clock.now(), 0);
    // setTimeout takes at most a signed 32-bit delay (~24.8 days); a longer one waits in steps.
    // Node's timers run on a monotonic clock and may fire a millisecond before the wall clock
    // reaches `at`; a deadline must never be early, so an early wake-up waits out the rest.
    const timer = this.clock.setTimeout(
      () => {
        this.timers.delete(key);
        if (this.clock.now() < at) this.set(key, at, fire);
        else fire();
      },
      Math.min(remaining, MAX_TIMER_MS),
    );
    this.timers.set(key, timer);
  }

  cancel(key: string): void {
    const timer = this.timers.get(key);
    if (timer === undefined) return;
    this.clock.clearTimeout(timer);
    this.timers.delete(key);
  }

  clear(): void {
    for (const timer of this.timers.values()) this.clock.clearTimeout(timer);
    this.timers.clear();
  }
}

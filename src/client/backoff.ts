/**
 * Delays between retries of a failed call to Konsul: exponential from `baseMs`, capped at
 * `maxMs`, with "equal jitter" (half fixed, half random) so clients that lost Konsul together
 * do not come back together, and abortable sleeps on the injected clock.
 */
import type { Clock, TimerHandle } from '../clock.js';

export function backoffDelay(failures: number, baseMs: number, maxMs: number, random: () => number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  const delay = Math.min(maxMs, baseMs * 2 ** exponent);
  return delay / 2 + random() * (delay / 2);
}

/** One pending sleep at a time; cancel() ends it early (close()). */
export class Sleeper {
  private timer: TimerHandle | undefined = undefined;
  private wake: (() => void) | undefined = undefined;

  constructor(private readonly clock: Clock) {}

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.wake = undefined;
        resolve();
      }, ms);
    });
  }

  cancel(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

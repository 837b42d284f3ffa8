import { MAX_TIMER_MS, type Clock, type TimerHandle } from '../../src/clock.js';

interface VirtualTimer {
  at: number;
  /** Creation order: timers due at the same millisecond fire in the order they were set, as Node's do. */
  seq: number;
  callback: () => void;
}

/** Where every VirtualClock starts unless told otherwise: a fixed epoch, so every run of a test sees the same times. */
export const VIRTUAL_EPOCH = Date.UTC(2026, 0, 1);

/** More timers than this in one advance means one re-arms itself without waiting: fail, do not spin. */
const RUNAWAY_TIMERS = 10_000;

/** One turn of the event loop: promise chains settle and work queued with setImmediate (the catalog's commits) runs. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A clock that moves only when a test moves it. now() stands still between advances; timers fire
 * when advance() passes their time, in due order, with now() reading exactly their due time, and
 * the event loop turns once after each so the promise chains a timer starts (a probe's result,
 * a catalog write) settle before the next one fires. Real I/O still runs at its own pace: a test
 * advances to a run, then waits for the event that ends it (see HealthManager.settled).
 */
export class VirtualClock implements Clock {
  private current: number;
  private readonly timers: VirtualTimer[] = [];
  private seq = 0;

  constructor(start = VIRTUAL_EPOCH) {
    this.current = start;
  }

  readonly now = (): number => this.current;

  readonly setTimeout = (callback: () => void, delayMs: number): TimerHandle => {
    // Node's rule: a delay that is not a number in [1, 2^31 - 1] becomes 1 ms. Keeping it means a
    // test on this clock still catches code that hands setTimeout an overflowing delay. A
    // fraction rounds up (a timer never fires early), which keeps now() in whole milliseconds.
    const delay = delayMs >= 1 && delayMs <= MAX_TIMER_MS ? Math.ceil(delayMs) : 1;
    const timer: VirtualTimer = { at: this.current + delay, seq: this.seq++, callback };
    let index = this.timers.length;
    while (index > 0 && this.timers[index - 1].at > timer.at) index--;
    this.timers.splice(index, 0, timer);
    return timer;
  };

  readonly clearTimeout = (handle: TimerHandle): void => {
    const index = this.timers.indexOf(handle as VirtualTimer);
    if (index >= 0) this.timers.splice(index, 1);
  };

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.timers.length;
  }

  /** When the next timer fires, or undefined when none is set. */
  get nextAt(): number | undefined {
    return this.timers[0]?.at;
  }

  /** Moves the clock `ms` ahead, firing every timer due on the way (those they set included). */
  advance(ms: number): Promise<void> {
    return this.advanceTo(this.current + ms);
  }

  /** Moves the clock to epoch ms `at` (never back), firing every timer due on the way. */
  async advanceTo(at: number): Promise<void> {
    if (at < this.current) throw new Error(`the clock cannot go back from ${this.current} to ${at}`);
    await turn();
    for (let fired = 0; ; fired++) {
      const next = this.timers.at(0);
      if (next === undefined || next.at > at) break;
      if (fired === RUNAWAY_TIMERS)
        throw new Error(
          `${fired} timers fired in one advance, the last at ${next.at - VIRTUAL_EPOCH} ms: a runaway timer`,
        );
      this.timers.shift();
      this.current = next.at;
      next.callback();
      await turn();
    }
    this.current = at;
  }

  /** Moves the clock to the next timer and fires it, with any others due at that millisecond. Returns that time. */
  async runNext(): Promise<number> {
    const at = this.nextAt;
    if (at === undefined) throw new Error('no timer is set');
    await this.advanceTo(at);
    return at;
  }
}

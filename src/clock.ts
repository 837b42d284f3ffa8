/**
 * Time as the code that waits sees it: the epoch-ms clock and one-shot timers, behind one
 * interface so a test can swap the process's clock for a virtual one and run hours of schedule
 * in a few milliseconds, exactly (test/helpers/virtual-clock.ts). Production code takes a Clock
 * and defaults to systemClock; nothing that waits calls the global setTimeout directly.
 */

/** What setTimeout returned; only the Timers that made it can read it. */
export type TimerHandle = object;

/** One-shot timers, with setTimeout's contract: a delay outside [1, 2^31 - 1] ms means 1 ms. */
export interface Timers {
  readonly setTimeout: (callback: () => void, delayMs: number) => TimerHandle;
  readonly clearTimeout: (handle: TimerHandle) => void;
}

/** Its members are plain functions, callable on their own (the catalog takes `now` alone). */
export interface Clock extends Timers {
  /** Epoch milliseconds. */
  readonly now: () => number;
}

/** setTimeout's longest delay (2^31 - 1 ms, ~24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/** The process's own clock and timers. */
export const systemClock: Clock = {
  now: Date.now,
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Lets the process exit while `handle` is pending (a housekeeping timer must not keep it alive),
 * when it is one of Node's timers; a virtual clock's timers hold nothing to let go of.
 */
export function unrefTimer(handle: TimerHandle): void {
  const unref = (handle as { unref?: unknown }).unref;
  if (typeof unref === 'function') (handle as NodeJS.Timeout).unref();
}

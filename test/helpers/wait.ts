import type { EventEmitter } from 'node:events';

/** How long a wait may go without its condition before the test fails, naming what never came. */
const WATCHDOG_MS = 10_000;

/**
 * Resolves once `condition()` holds, checking it at once and again each time `subscribe` calls
 * its wake-up: a wait on events, never a poll of the clock. The watchdog does not time
 * anything; it only turns a wait that would hang into a failure that says what it waited for.
 */
export function until(
  what: string,
  subscribe: (wake: () => void) => () => void,
  condition: () => boolean,
): Promise<void> {
  if (condition()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      unsubscribe();
      clearTimeout(watchdog);
      if (error === undefined) resolve();
      else reject(error);
    };
    const unsubscribe = subscribe(() => {
      try {
        if (condition()) done();
      } catch (error) {
        done(error as Error);
      }
    });
    const watchdog = setTimeout(() => done(new Error(`never happened: ${what}`)), WATCHDOG_MS);
  });
}

/** until() on an EventEmitter's `event`. */
export function when(what: string, emitter: EventEmitter, event: string, condition: () => boolean): Promise<void> {
  return until(
    what,
    (wake) => {
      emitter.on(event, wake);
      return () => emitter.off(event, wake);
    },
    condition,
  );
}

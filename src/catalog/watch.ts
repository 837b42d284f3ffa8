import { systemClock, type TimerHandle, type Timers } from '../clock.js';

/**
 * Waiters of blocking queries, grouped by what they watch (a service name, or ANY for the
 * whole catalog). A commit wakes only the groups it touched: no waiter polls, and a waiter
 * costs one timer and one set entry.
 */
export const ANY = '*';

interface Waiter {
  key: string;
  resolve: (changed: boolean) => void;
  timer: TimerHandle;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export class WatchSet {
  private readonly groups = new Map<string, Set<Waiter>>();
  private count = 0;

  /** `timers` runs the waits' timeouts: the process's own, or a test's virtual clock. */
  constructor(private readonly timers: Timers = systemClock) {}

  get size(): number {
    return this.count;
  }

  /**
   * Resolves true when `key` (or ANY) is notified, false when the timeout passes, the signal
   * aborts (the client went away) or the set is released.
   */
  wait(key: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted === true) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        key,
        resolve,
        timer: this.timers.setTimeout(() => this.settle(waiter, false), timeoutMs),
        signal,
        onAbort: undefined,
      };
      if (signal !== undefined) {
        waiter.onAbort = () => this.settle(waiter, false);
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      let group = this.groups.get(key);
      if (group === undefined) this.groups.set(key, (group = new Set()));
      group.add(waiter);
      this.count++;
    });
  }

  /** Wakes everyone watching one of `keys`, and everyone watching ANY. */
  notify(keys: Iterable<string>): void {
    for (const key of keys) this.wake(key);
    this.wake(ANY);
  }

  /** Wakes every waiter with `false` (shutdown). */
  releaseAll(): void {
    for (const group of [...this.groups.values()]) for (const waiter of [...group]) this.settle(waiter, false);
  }

  private wake(key: string): void {
    const group = this.groups.get(key);
    if (group === undefined) return;
    for (const waiter of [...group]) this.settle(waiter, true);
  }

  private settle(waiter: Waiter, changed: boolean): void {
    const group = this.groups.get(waiter.key);
    if (group === undefined || !group.delete(waiter)) return;
    if (group.size === 0) this.groups.delete(waiter.key);
    this.count--;
    this.timers.clearTimeout(waiter.timer);
    if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
    waiter.resolve(changed);
  }
}

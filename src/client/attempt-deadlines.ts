/**
 * The per-try timeouts of a balancer's attempts, on one timer instead of one per attempt: a
 * setTimeout and its clearTimeout per call were a measurable share of the client's CPU per
 * call (docs/benchmarks.md#client). Attempts share one per-try timeout, so deadlines arrive
 * in order and the queue is a FIFO; an attempt with a shorter timeout (its call's overall
 * deadline is near) is inserted in place. The timer is armed for the earliest deadline and is
 * not cleared when that attempt ends early (clearing and re-arming per call would cost what
 * this saves): when it fires it stops what is due and re-arms for the next deadline, if any.
 * So an idle balancer keeps one timer for at most one per-try timeout; close() clears it.
 * Bounded by the attempts started within one per-try timeout.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { Attempt } from './attempt.js';

/** Finished entries are dropped from the front; the array is compacted once the dropped part is large. */
const COMPACT_AFTER = 1024;

export class AttemptDeadlines {
  private items: Attempt[] = [];
  private head = 0;
  private timer: TimerHandle | undefined = undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly onTimer = (): void => this.fire();

  constructor(
    private readonly clock: Clock,
    /** The reason an attempt that ran out of time is stopped with. */
    private readonly reason: unknown,
  ) {}

  /** Stops `attempt` at its time (`attempt.at`) unless finish() comes first. */
  start(attempt: Attempt): void {
    const at = attempt.at;
    const items = this.items;
    let position = items.length;
    while (position > this.head && items[position - 1].at > at) position--;
    if (position === items.length) items.push(attempt);
    else items.splice(position, 0, attempt);
    if (at < this.timerAt) this.arm(at);
  }

  finish(attempt: Attempt): void {
    attempt.done = true;
    this.dropFinished();
  }

  /** Stops every attempt in flight with `reason` and the timer. */
  close(reason: unknown): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const pending = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    for (const attempt of pending) attempt.stop(reason);
  }

  private arm(at: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(this.onTimer, at - this.clock.now());
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    const items = this.items;
    while (this.head < items.length && (items[this.head].done || items[this.head].at <= now)) {
      items[this.head++].stop(this.reason);
    }
    this.dropFinished();
    const next = this.items[this.head] as Attempt | undefined;
    if (next !== undefined) this.arm(next.at);
  }

  private dropFinished(): void {
    const items = this.items;
    while (this.head < items.length && items[this.head].done) this.head++;
    if (this.head === items.length) {
      items.length = 0;
      this.head = 0;
    } else if (this.head > COMPACT_AFTER && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
  }
}

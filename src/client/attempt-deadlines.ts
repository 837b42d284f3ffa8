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
 *
 * The queue is an array used from `head` to `tail`. Emptied, it keeps its capacity (the most
 * attempts it ever held at once, 8 bytes each): emptying it by `length = 0` released its store,
 * and the next call's push allocated one again, on every sequential call.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { Attempt } from './attempt.js';

/** Finished entries are dropped from the front; the array is compacted once the dropped part is large. */
const COMPACT_AFTER = 1024;

export class AttemptDeadlines {
  private items: (Attempt | undefined)[] = [];
  private head = 0;
  private tail = 0;
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
    let position = this.tail;
    while (position > this.head && items[position - 1]!.at > at) position--;
    // Writing at `tail` appends when the array is full; a shorter timeout shifts the later ones.
    for (let i = this.tail; i > position; i--) items[i] = items[i - 1];
    items[position] = attempt;
    this.tail++;
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
    const pending = this.items.slice(this.head, this.tail) as Attempt[];
    this.items = [];
    this.head = 0;
    this.tail = 0;
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
    while (this.head < this.tail && (items[this.head]!.done || items[this.head]!.at <= now)) {
      const due = items[this.head]!;
      items[this.head++] = undefined;
      due.stop(this.reason);
    }
    this.dropFinished();
    if (this.head < this.tail) this.arm(this.items[this.head]!.at);
  }

  private dropFinished(): void {
    const items = this.items;
    while (this.head < this.tail && items[this.head]!.done) items[this.head++] = undefined;
    if (this.head === this.tail) {
      this.head = 0;
      this.tail = 0;
    } else if (this.head > COMPACT_AFTER && this.head * 2 > this.tail) {
      items.copyWithin(0, this.head, this.tail);
      items.fill(undefined, this.tail - this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
  }
}

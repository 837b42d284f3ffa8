/**
 * The per-try timeouts of a balancer's attempts, on one timer instead of one per attempt: a
 * setTimeout and its clearTimeout per call were a measurable share of the client's CPU per
 * call (docs/benchmarks.md#client). Attempts share one per-try timeout, so deadlines arrive
 * in order and the queue is a FIFO; an attempt with a shorter timeout (its call's overall
 * deadline is near) is inserted in place. The timer is armed for the earliest deadline and is
 * not cleared when that attempt ends early (clearing and re-arming per call would cost what
 * this saves): when it fires it aborts what is due and re-arms for the next deadline, if any.
 * So an idle balancer keeps one timer for at most one per-try timeout; close() clears it.
 * Bounded by the attempts started within one per-try timeout.
 */
import type { Clock, TimerHandle } from '../clock.js';

export class Deadline {
  done = false;

  constructor(
    readonly controller: AbortController,
    readonly at: number,
  ) {}
}

/** Finished entries are dropped from the front; the array is compacted once the dropped part is large. */
const COMPACT_AFTER = 1024;

export class AttemptDeadlines {
  private items: Deadline[] = [];
  private head = 0;
  private timer: TimerHandle | undefined = undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    /** The abort reason of an attempt that ran out of time. */
    private readonly reason: unknown,
  ) {}

  /** Aborts `controller` at epoch ms `at` unless finish() comes first. */
  start(controller: AbortController, at: number): Deadline {
    const deadline = new Deadline(controller, at);
    const items = this.items;
    let position = items.length;
    while (position > this.head && items[position - 1].at > at) position--;
    if (position === items.length) items.push(deadline);
    else items.splice(position, 0, deadline);
    if (at < this.timerAt) this.arm(at);
    return deadline;
  }

  finish(deadline: Deadline): void {
    deadline.done = true;
    this.dropFinished();
  }

  /** Aborts every attempt in flight with `reason` and stops the timer. */
  close(reason: unknown): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const pending = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    for (const deadline of pending) if (!deadline.done) deadline.controller.abort(reason);
  }

  private arm(at: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => this.fire(), at - this.clock.now());
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    const items = this.items;
    while (this.head < items.length && (items[this.head].done || items[this.head].at <= now)) {
      const deadline = items[this.head++];
      if (!deadline.done) {
        deadline.done = true;
        deadline.controller.abort(this.reason);
      }
    }
    this.dropFinished();
    const next = this.items[this.head] as Deadline | undefined;
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

import { MAX_TIMER_MS, type Clock, type TimerHandle } from '../clock.js';

/** What the scheduler needs on each job: where it sits in the heap and when it is due. */
export interface ScheduledJob {
  /** Epoch ms the job is planned to start. */
  dueAt: number;
  /** Position in the heap; -1 when not scheduled. */
  heapIndex: number;
}

// setTimeout takes at most a signed 32-bit delay; a longer wait is re-armed when it fires.

/**
 * Every periodic check's next start, in one binary min-heap behind one timer: scheduling,
 * rescheduling and cancelling are O(log n), and the process holds a single timer however many
 * checks exist, so 10,000 checks cost 10,000 heap entries, not 10,000 timers.
 */
export class Scheduler<J extends ScheduledJob> {
  private heap: J[] = [];
  private timer: TimerHandle | null = null;
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(
    /** Its now() plans the jobs and its timer wakes the scheduler: one clock for both. */
    private readonly clock: Clock,
    /** Called once per due job, in due order, with the job already out of the heap. */
    private readonly onDue: (job: J) => void,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** Plans `job` for `dueAt`, moving it if it was already planned. */
  schedule(job: J, dueAt: number): void {
    if (job.heapIndex >= 0) this.removeAt(job.heapIndex);
    job.dueAt = dueAt;
    job.heapIndex = this.heap.length;
    this.heap.push(job);
    this.siftUp(job.heapIndex);
    this.arm();
  }

  cancel(job: J): void {
    if (job.heapIndex < 0) return;
    this.removeAt(job.heapIndex);
    this.arm();
  }

  /** Forgets every job and releases the timer. */
  clear(): void {
    for (const job of this.heap) job.heapIndex = -1;
    this.heap = [];
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private arm(): void {
    const next = this.heap.at(0);
    if (next === undefined) {
      if (this.timer !== null) this.clock.clearTimeout(this.timer);
      this.timer = null;
      this.armedFor = Number.POSITIVE_INFINITY;
      return;
    }
    // A timer due no later than the next job already covers it (if the job it was armed for was
    // cancelled, it fires early, finds nothing due and re-arms).
    if (this.timer !== null && this.armedFor <= next.dueAt) return;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.armedFor = next.dueAt;
    this.timer = this.clock.setTimeout(this.fire, Math.min(Math.max(next.dueAt - this.clock.now(), 0), MAX_TIMER_MS));
  }

  private readonly fire = (): void => {
    // A timer never fires before its delay; taking the later of the clock and the armed time
    // keeps an injected clock that lags real time from re-arming a zero-delay timer forever.
    const reached = Math.max(this.clock.now(), this.armedFor);
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    // Re-arming in finally: one job whose callback throws must not stop every other check.
    try {
      while (this.heap.length > 0 && this.heap[0].dueAt <= reached) {
        const job = this.heap[0];
        this.removeAt(0);
        this.onDue(job);
      }
    } finally {
      this.arm();
    }
  };

  private removeAt(index: number): void {
    const heap = this.heap;
    const removed = heap[index];
    const last = heap.pop()!;
    removed.heapIndex = -1;
    if (index === heap.length) return;
    heap[index] = last;
    last.heapIndex = index;
    this.siftDown(index);
    this.siftUp(last.heapIndex);
  }

  private siftUp(start: number): void {
    const heap = this.heap;
    let index = start;
    const job = heap[index];
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex];
      if (parent.dueAt <= job.dueAt) break;
      heap[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    heap[index] = job;
    job.heapIndex = index;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const length = heap.length;
    let index = start;
    const job = heap[index];
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && heap[right].dueAt < heap[left].dueAt ? right : left;
      if (heap[child].dueAt >= job.dueAt) break;
      heap[index] = heap[child];
      heap[index].heapIndex = index;
      index = child;
    }
    heap[index] = job;
    job.heapIndex = index;
  }
}

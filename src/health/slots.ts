/**
 * At most `limit` jobs run at once; the rest wait in arrival order (FIFO, so no check starves)
 * and start as slots free. `start` returns false for a job that no longer wants its turn (its
 * check was removed while it waited), and the slot goes to the next one.
 */
export class Slots<J> {
  private waiting: (J | undefined)[] = [];
  private head = 0;
  private running = 0;

  constructor(
    private readonly limit: number,
    private readonly start: (job: J) => boolean,
  ) {}

  /** Jobs holding a slot now. */
  get busy(): number {
    return this.running;
  }

  /** Jobs waiting for a slot. */
  get queued(): number {
    return this.waiting.length - this.head;
  }

  submit(job: J): void {
    if (this.running < this.limit && this.queued === 0) {
      this.running++;
      this.startOrGiveBack(job);
      return;
    }
    this.waiting.push(job);
  }

  /** Gives back the slot of a finished job, and hands it to the next waiting one that wants it. */
  release(): void {
    this.running--;
    while (this.running < this.limit && this.head < this.waiting.length) {
      const job = this.waiting[this.head]!;
      this.waiting[this.head++] = undefined;
      this.running++;
      this.startOrGiveBack(job);
    }
    // Reclaim the consumed front of the array once it dominates, keeping dequeue O(1) amortised.
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
  }

  /** Drops every waiting job (shutdown); running ones still call release when they end. */
  clear(): void {
    this.waiting = [];
    this.head = 0;
  }

  /** A job that declines its slot, or throws, gives it back: a throw must not leak a slot. */
  private startOrGiveBack(job: J): void {
    let started = false;
    try {
      started = this.start(job);
    } finally {
      if (!started) this.running--;
    }
  }
}

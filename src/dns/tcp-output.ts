/**
 * The bound on reply bytes queued in Konsul across every DNS TCP connection. Each connection
 * has its own bound too, but thousands of connections that pipeline queries and never read the
 * answers would each fill theirs (4,000 of them took RSS from 470 MB to 1.28 GB). Past this
 * total, connections stop reading queries and wait their turn, oldest first, until the bytes
 * already queued reach the kernel.
 */

/** What a connection does when it may read again. */
export interface OutputWaiter {
  resumeReading(): void;
}

export class OutputBudget {
  private queued = 0;
  /** Connections waiting for room, in the order they started waiting (a Set keeps insertion order). */
  private readonly waiters = new Set<OutputWaiter>();
  private wakeScheduled = false;

  constructor(readonly limitBytes: number) {}

  /** Reply bytes handed to sockets and not yet taken by the kernel. */
  get queuedBytes(): number {
    return this.queued;
  }

  get full(): boolean {
    return this.queued >= this.limitBytes;
  }

  charge(bytes: number): void {
    this.queued += bytes;
  }

  /** Bytes flushed to the kernel, or dropped with their connection. Lets waiting connections read while there is room. */
  release(bytes: number): void {
    this.queued -= bytes;
    // Woken on the next turn of the event loop, not here: releases come from write callbacks,
    // and answering from those would starve timers and I/O (see TcpConnection.flushed).
    if (this.waiters.size > 0 && !this.wakeScheduled && this.queued < this.limitBytes) {
      this.wakeScheduled = true;
      setImmediate(this.wake);
    }
  }

  private readonly wake = (): void => {
    this.wakeScheduled = false;
    for (const waiter of this.waiters) {
      if (this.queued >= this.limitBytes) return;
      this.waiters.delete(waiter);
      // It may fill the budget again at once; the loop then stops and the rest keep waiting.
      waiter.resumeReading();
    }
  };

  wait(waiter: OutputWaiter): void {
    this.waiters.add(waiter);
  }

  /** A closed connection no longer waits. */
  forget(waiter: OutputWaiter): void {
    this.waiters.delete(waiter);
  }

  get waiting(): number {
    return this.waiters.size;
  }
}

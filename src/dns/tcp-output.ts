/**
 * The bound on reply bytes queued in Konsul across every DNS TCP connection. Each connection
 * has its own bound too, but thousands of connections that pipeline queries and never read the
 * answers would each fill theirs (4,000 of them took RSS from 470 MB to 1.28 GB). Past this
 * total, connections stop reading queries and wait their turn, oldest first, until the bytes
 * already queued reach the kernel (AnswerTurns serves them), or until room is made by shedding
 * connections whose answers have stopped moving (TcpFront.shedStalled).
 */

/** A connection waiting for room; given a turn (AnswerTurns) once there is some. */
export interface OutputWaiter {
  /** Reply bytes queued for it in Konsul. */
  readonly queuedBytes: number;
  /** Whether it has been answered at all yet. */
  readonly answeredAny: boolean;
  /** Answers up to `most` queries now; returns how many it answered. */
  takeTurn(most: number): number;
}

export class OutputBudget {
  private queued = 0;
  /**
   * Connections waiting for room, in the order they started waiting (a Set keeps insertion
   * order): first those never answered yet (a new client), then those with nothing queued
   * (their clients read everything so far), then the rest. A connection whose own replies sit
   * unread is not the one to give more to, and a flood of connections that read until their
   * kernel buffers fill must not queue ahead of a client asking its first question.
   */
  private readonly newcomers = new Set<OutputWaiter>();
  private readonly readers = new Set<OutputWaiter>();
  private readonly waiters = new Set<OutputWaiter>();
  /** Told when bytes are let go while connections wait, so whoever serves them can look again. */
  onRoom: () => void = () => undefined;

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

  /** Bytes flushed to the kernel, or dropped with their connection. */
  release(bytes: number): void {
    this.queued -= bytes;
    if (this.waiting > 0 && this.queued < this.limitBytes) this.onRoom();
  }

  /** `waiter` waits for room; called again when its queued bytes change, to move it to the right line. */
  wait(waiter: OutputWaiter): void {
    if (this.newcomers.has(waiter)) return;
    if (!waiter.answeredAny) {
      this.newcomers.add(waiter);
    } else if (waiter.queuedBytes === 0) {
      this.waiters.delete(waiter);
      this.readers.add(waiter);
    } else if (!this.readers.has(waiter)) {
      this.waiters.add(waiter);
    }
  }

  /** The connection to give room to next, taken off the list; undefined when none waits. */
  nextWaiter(): OutputWaiter | undefined {
    const next =
      this.newcomers.values().next().value ?? this.readers.values().next().value ?? this.waiters.values().next().value;
    if (next !== undefined) this.forget(next);
    return next;
  }

  /** A closed connection no longer waits. */
  forget(waiter: OutputWaiter): void {
    this.newcomers.delete(waiter);
    this.readers.delete(waiter);
    this.waiters.delete(waiter);
  }

  get waiting(): number {
    return this.newcomers.size + this.readers.size + this.waiters.size;
  }
}

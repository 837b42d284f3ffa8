/**
 * The bound on query bytes read from DNS TCP connections and not yet answered, across all of
 * them, and who may read next once it is reached.
 *
 * Node reads a socket 64 KiB at a time and keeps what it read until the queries in it are
 * answered. 4,096 connections that each pipelined 76 KB of queries held 4,096 reads at once
 * (arrayBuffers 300 MB, RSS 135 MB to 560 MB, most of which glibc kept after they closed),
 * and since every connection read as soon as it was accepted, one poll of the event loop read
 * 2,592 of them (170 MB) in 891 ms, during which nothing else, UDP included, was answered.
 *
 * So connections are accepted paused and read only once let in: at once while fewer than
 * `limitBytes` are held and nobody waits, otherwise when a turn of AnswerTurns lets in at most
 * ADMITS_PER_TURN of those waiting (one in a turn that follows an accept, see AnswerTurns). A connection waits again whenever it has answered all it
 * read and the budget is full. What stays unread waits in the kernel's socket buffer, which the
 * client's TCP window bounds, not in Konsul. Of those waiting, the connection of the source
 * holding the fewest bytes goes first: a flood from a few sources cannot keep a client from
 * another source from being read (a first-come line put it behind every flooding connection).
 *
 * A new connection that sends nothing is closed, when others wait, a message timeout after it
 * was let in (shedSilent).
 *
 * Held bytes stay at most `limitBytes` plus one read (64 KiB) for each connection let in per
 * turn, plus one read for each connection that was reading while idle (waiting for its next
 * query after answering all before) when its bytes came.
 */

/** Connections let in to read in one turn of the event loop once the budget is in use. */
export const ADMITS_PER_TURN = 16;

import { performance } from 'node:perf_hooks';

/** What one read can bring: node reads a socket 64 KiB at a time. */
export const READ_BYTES = 65_536;

/** A connection that waits to read. */
export interface InputWaiter {
  readonly sourceKey: string;
  /** Whether it has never read: letting it in reserves READ_BYTES until its first read. */
  readonly first: boolean;
  /** Starts reading (it was let in). */
  admitted(): void;
  /** Closes it: let in a message timeout ago, it has sent nothing while others wait to read. */
  closeSilent(): void;
}

export class InputBudget {
  private held = 0;
  /** READ_BYTES for each connection let in before its first read, which may bring that much. */
  private reserved = 0;
  /** Those connections, with when each was let in, longest first (a Map keeps insertion order). */
  private readonly silent = new Map<InputWaiter, number>();
  private shedTimer: NodeJS.Timeout | undefined;
  private readonly heldBySource = new Map<string, number>();
  /** Waiting connections by source, each oldest first (a Set keeps insertion order). */
  private readonly lines = new Map<string, Set<InputWaiter>>();
  private waitingCount = 0;
  private admittedThisTurn = 0;
  /** The most bytes held at once (metrics, tests, benchmarks). */
  mostHeldBytes = 0;
  /** Told when connections wait and there may be room, so whoever runs turns schedules one. */
  onWaiting: () => void = () => undefined;

  constructor(
    readonly limitBytes: number,
    /** How long a connection let in may send nothing before it is closed when others wait. */
    private readonly silentTimeoutMs: number,
    /** Connections open from a source: between sources holding the same, the one with fewer goes first. */
    private readonly connectionsOf: (source: string) => number = () => 0,
  ) {}

  close(): void {
    if (this.shedTimer !== undefined) clearTimeout(this.shedTimer);
    this.shedTimer = undefined;
  }

  /** Query bytes read and not yet answered, across all connections. */
  get heldBytes(): number {
    return this.held;
  }

  get full(): boolean {
    return this.held + this.reserved >= this.limitBytes;
  }

  get waiting(): number {
    return this.waitingCount;
  }

  /** `bytes` more (or, negative, fewer) held by a connection of `source`. */
  adjust(source: string, bytes: number): void {
    if (bytes === 0) return;
    this.held += bytes;
    if (this.held > this.mostHeldBytes) this.mostHeldBytes = this.held;
    this.count(source, bytes);
  }

  /** A new connection's first read came (or it closed first): its reservation goes. */
  unreserve(waiter: InputWaiter): void {
    if (!this.silent.delete(waiter)) return;
    this.reserved -= READ_BYTES;
    this.count(waiter.sourceKey, -READ_BYTES);
  }

  private count(source: string, bytes: number): void {
    const mine = (this.heldBySource.get(source) ?? 0) + bytes;
    if (mine === 0) this.heldBySource.delete(source);
    else this.heldBySource.set(source, mine);
    // Room, or a source with nothing held (let in even when full): a turn can let someone in.
    if (bytes < 0 && this.waitingCount > 0 && (!this.full || mine === 0)) this.onWaiting();
  }

  /**
   * Whether `waiter` may read now; if not, it waits in line and is told (admitted) when it may.
   * Now means: room in the budget, nobody waiting before it, and this turn's admissions not used.
   */
  mayRead(waiter: InputWaiter, first: boolean): boolean {
    if (!this.full && this.waitingCount === 0 && this.admittedThisTurn < ADMITS_PER_TURN) {
      this.admittedThisTurn++;
      if (first) this.reserve(waiter);
      return true;
    }
    let line = this.lines.get(waiter.sourceKey);
    if (line === undefined) {
      line = new Set();
      this.lines.set(waiter.sourceKey, line);
    }
    if (!line.has(waiter)) {
      line.add(waiter);
      this.waitingCount++;
    }
    this.onWaiting();
    return false;
  }

  /** A new turn: lets in up to ADMITS_PER_TURN waiting connections while there is room. */
  turn(most = ADMITS_PER_TURN): void {
    this.admittedThisTurn = 0;
    if (this.full && this.waitingCount > 0) this.shedSilent(performance.now());
    while (this.waitingCount > 0 && this.admittedThisTurn < most) {
      const [source, line] = this.leastHeldLine();
      // A full budget still lets in a source that holds nothing, once: connections that send
      // nothing, or floods from other sources, cannot keep a new source from being read.
      if (this.full && (this.heldBySource.get(source) ?? 0) > 0) break;
      const next = line.values().next().value!;
      this.forget(next);
      this.admittedThisTurn++;
      if (next.first) this.reserve(next);
      next.admitted();
    }
  }

  private reserve(waiter: InputWaiter): void {
    this.silent.set(waiter, performance.now());
    this.reserved += READ_BYTES;
    this.count(waiter.sourceKey, READ_BYTES);
  }

  /**
   * Connections that send nothing would keep their reservations until their idle timeout (64
   * of them fill the default budget). RFC 7766 §6.2.3 lets a busy server close idle
   * connections: while others wait, those let in at least a message timeout ago that have
   * still sent nothing are closed, longest first, until there is room.
   */
  private shedSilent(now: number): void {
    for (const [waiter, at] of this.silent) {
      if (!this.full) return;
      if (now - at < this.silentTimeoutMs) {
        // Look again when it will have been silent long enough.
        this.shedTimer ??= setTimeout(this.shedAgain, Math.max(1, Math.ceil(at + this.silentTimeoutMs - now)));
        this.shedTimer.unref();
        return;
      }
      waiter.closeSilent();
    }
  }

  private readonly shedAgain = (): void => {
    this.shedTimer = undefined;
    if (this.full && this.waitingCount > 0) this.onWaiting();
  };

  /** A closed connection no longer waits. */
  forget(waiter: InputWaiter): void {
    const line = this.lines.get(waiter.sourceKey);
    if (line?.delete(waiter) !== true) return;
    this.waitingCount--;
    if (line.size === 0) this.lines.delete(waiter.sourceKey);
  }

  /**
   * The waiting source that holds the fewest bytes, and its line. Between sources holding the
   * same (many hold nothing when a flood of new connections waits), the one with the fewest
   * connections open, then the one waiting longest: a client with one connection goes before
   * hosts opening dozens, which, one let in a turn while accepting, kept it waiting a second.
   */
  private leastHeldLine(): [string, Set<InputWaiter>] {
    let best: [string, Set<InputWaiter>] | undefined;
    let bestHeld = Number.POSITIVE_INFINITY;
    let bestConnections = Number.POSITIVE_INFINITY;
    for (const entry of this.lines) {
      const held = this.heldBySource.get(entry[0]) ?? 0;
      if (held > bestHeld) continue;
      const connections = this.connectionsOf(entry[0]);
      if (held < bestHeld || connections < bestConnections) {
        best = entry;
        bestHeld = held;
        bestConnections = connections;
        if (held === 0 && connections <= 1) break;
      }
    }
    return best!;
  }
}

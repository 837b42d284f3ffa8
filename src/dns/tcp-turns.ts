/**
 * Whose DNS TCP queries are answered next, and how many in one turn of the event loop.
 *
 * Answering is the costly part of DNS over TCP (building and writing each reply), and pipelining
 * lets one connection ask thousands of queries at once. Each connection used to answer 8 and
 * then wait a setImmediate: fair between connections, but every connection with queries left
 * answered in the same turn, so 4,096 connections pipelining without reading made one turn of
 * the event loop last seconds. And libuv accepts one connection per turn of the loop
 * (libuv#3696, in Node since 20) from a first-come, first-served accept queue: a client
 * connecting behind the flood waited for thousands of slow turns before it was even accepted,
 * and once in, queued behind every flooding connection.
 *
 * So answering happens here, in one setImmediate per turn that stops after ANSWERS_PER_TURN
 * answers (ANSWERS_WHILE_ACCEPTING just after a connection was accepted) or TURN_MS, whichever
 * comes first, and hands the loop back to I/O (accepts, reads, the UDP socket, timers). Within
 * a turn a connection answers at most ANSWERS_PER_CONNECTION queries before the next one's
 * turn, in this order:
 * 1. fresh: connections that have just sent at most FRESH_BYTES of queries and have not had a
 *    turn since (a client with a question to ask, and one that reads its answers before asking
 *    more), oldest first;
 * 2. connections that waited for room in the shared output budget, once there is room;
 * 3. backlog: connections that sent more than that at once (pipelined bursts), and those that
 *    used their share and still have queries, round robin.
 * A new client is thus answered within a turn or two of being accepted however many
 * connections are flooding (at the start of a flood, thousands of connections have just sent
 * their queries: a newcomer queued behind all of them would wait as long as before).
 */
import { performance } from 'node:perf_hooks';
import type { InputBudget } from './tcp-input.js';
import type { OutputBudget } from './tcp-output.js';

/** Queries one connection answers before the next connection's turn. */
export const ANSWERS_PER_CONNECTION = 8;
/** Queries answered in one turn of the event loop, across connections. */
export const ANSWERS_PER_TURN = 64;
/** Wall time after which a turn ends even short of ANSWERS_PER_TURN (a loaded machine answers slower). */
export const TURN_MS = 2;
/** Queries a connection may have sent at once and still go first: a few queries' worth. */
export const FRESH_BYTES = 1024;
/**
 * Queries answered in a turn that follows the accepting of a connection. libuv accepts one
 * connection per turn of the event loop (libuv#3696, in Node since 20), and the kernel's accept
 * queue is first come, first served: a client connecting behind a flood of new connections is
 * accepted only once all of them are. So while connections keep being accepted, a turn answers
 * just one query (answering never stops) and the loop turns as fast as it can: at 64 answers a
 * turn the 4,096 connections of bench/hostile-dns.ts took minutes to be accepted, at 8 (on a
 * loaded machine) still over 20 s.
 */
export const ANSWERS_WHILE_ACCEPTING = 1;

export interface TurnTaker {
  /** Answers up to `most` of its queries; returns how many it answered. */
  takeTurn(most: number): number;
}

export class AnswerTurns {
  private readonly fresh = new Set<TurnTaker>();
  private readonly backlog = new Set<TurnTaker>();
  private scheduled: NodeJS.Immediate | undefined;
  private closed = false;
  private accepting = false;
  /** Turns run, and the most answers one turn gave (metrics, tests). */
  turns = 0;
  mostAnswersInTurn = 0;

  constructor(
    private readonly budget: OutputBudget,
    private readonly input: InputBudget,
  ) {
    budget.onRoom = () => this.schedule();
    input.onWaiting = () => this.schedule();
  }

  /** `taker` has `bytes` of new queries and had no turn waiting: a few go before the backlog, more behind it. */
  ready(taker: TurnTaker, bytes: number): void {
    if (bytes > FRESH_BYTES) this.backlog.add(taker);
    else if (!this.backlog.has(taker)) this.fresh.add(taker);
    this.schedule();
  }

  /** `taker` used its share with queries left: it goes to the back of the backlog. */
  again(taker: TurnTaker): void {
    this.backlog.add(taker);
    this.schedule();
  }

  /** A connection was accepted: more may be waiting, so the next turn is a short one. */
  accepted(): void {
    this.accepting = true;
  }

  forget(taker: TurnTaker): void {
    this.fresh.delete(taker);
    this.backlog.delete(taker);
  }

  close(): void {
    this.closed = true;
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.fresh.clear();
    this.backlog.clear();
  }

  private schedule(): void {
    if (this.scheduled === undefined && !this.closed) this.scheduled = setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    this.scheduled = undefined;
    this.turns++;
    const started = performance.now();
    let answered = 0;
    const allowance = this.accepting ? ANSWERS_WHILE_ACCEPTING : ANSWERS_PER_TURN;
    // Connections let in to read now read in the next poll of the event loop, a bounded number
    // of them: one while connections are being accepted, so that the loop turns fast then.
    this.input.turn(this.accepting ? 1 : undefined);
    this.accepting = false;
    while (answered < allowance && performance.now() - started < TURN_MS) {
      const next = take(this.fresh) ?? (this.budget.full ? undefined : this.budget.nextWaiter()) ?? take(this.backlog);
      if (next === undefined) break;
      answered += next.takeTurn(Math.min(ANSWERS_PER_CONNECTION, allowance - answered));
    }
    if (answered > this.mostAnswersInTurn) this.mostAnswersInTurn = answered;
    if (
      this.fresh.size > 0 ||
      this.backlog.size > 0 ||
      (this.budget.waiting > 0 && !this.budget.full) ||
      (this.input.waiting > 0 && !this.input.full)
    ) {
      this.schedule();
    }
  };
}

function take<T>(set: Set<T>): T | undefined {
  const first = set.values().next().value;
  if (first !== undefined) set.delete(first);
  return first;
}

/**
 * Whose DNS TCP queries are answered next, and how many in one turn of the event loop.
 *
 * Answering is the costly part of DNS over TCP (building and writing each reply), and pipelining
 * lets one connection ask thousands of queries at once. Each connection used to answer a few and
 * then wait a setImmediate: fair between connections, but every connection with queries left
 * answered in the same turn, so 4,096 connections pipelining without reading made one turn of
 * the event loop last seconds. Nothing else ran meanwhile: new connections waited in the
 * kernel's accept queue until it overflowed and handshakes were dropped (the client retries a
 * second later), and a new client, once in, queued behind every one of them.
 *
 * So answering happens here, in one setImmediate per turn that stops after ANSWERS_PER_TURN
 * answers or TURN_MS, whichever comes first, and hands the loop back to I/O (accepts, reads,
 * the UDP socket, timers). Within a turn a connection answers at most ANSWERS_PER_CONNECTION
 * queries before the next one's turn, in this order:
 * 1. fresh: connections whose queries have just arrived and that have not had a turn since
 *    (a client with a question to ask, say), oldest first;
 * 2. connections that waited for room in the shared output budget, once there is room;
 * 3. backlog: connections that used their share and still have queries, round robin.
 * A new client is thus answered within a turn or two however many connections are flooding.
 */
import { performance } from 'node:perf_hooks';
import type { OutputBudget } from './tcp-output.js';

/** Queries one connection answers before the next connection's turn. */
export const ANSWERS_PER_CONNECTION = 8;
/** Queries answered in one turn of the event loop, across connections (at most this plus ANSWERS_PER_CONNECTION - 1). */
export const ANSWERS_PER_TURN = 64;
/** Wall time after which a turn ends even short of ANSWERS_PER_TURN (a loaded machine answers slower). */
export const TURN_MS = 2;

export interface TurnTaker {
  /** Answers up to ANSWERS_PER_CONNECTION of its queries; returns how many it answered. */
  takeTurn(): number;
}

export class AnswerTurns {
  private readonly fresh = new Set<TurnTaker>();
  private readonly backlog = new Set<TurnTaker>();
  private scheduled: NodeJS.Immediate | undefined;
  private closed = false;
  /** Turns run, and the most answers one turn gave (metrics, tests). */
  turns = 0;
  mostAnswersInTurn = 0;

  constructor(private readonly budget: OutputBudget) {
    budget.onRoom = () => this.schedule();
  }

  /** `taker` has new queries and had no turn waiting: it goes before the backlog. */
  ready(taker: TurnTaker): void {
    if (!this.backlog.has(taker)) this.fresh.add(taker);
    this.schedule();
  }

  /** `taker` used its share with queries left: it goes to the back of the backlog. */
  again(taker: TurnTaker): void {
    this.backlog.add(taker);
    this.schedule();
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
    while (answered < ANSWERS_PER_TURN && performance.now() - started < TURN_MS) {
      const next = take(this.fresh) ?? (this.budget.full ? undefined : this.budget.nextWaiter()) ?? take(this.backlog);
      if (next === undefined) break;
      answered += next.takeTurn();
    }
    if (answered > this.mostAnswersInTurn) this.mostAnswersInTurn = answered;
    if (this.fresh.size > 0 || this.backlog.size > 0 || (this.budget.waiting > 0 && !this.budget.full)) {
      this.schedule();
    }
  };
}

function take<T>(set: Set<T>): T | undefined {
  const first = set.values().next().value;
  if (first !== undefined) set.delete(first);
  return first;
}

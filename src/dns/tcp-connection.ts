/**
 * One DNS TCP connection: length-prefixed framing (RFC 1035 §4.2.2), pipelined queries answered
 * in order (RFC 7766 §6.2.1.1), and the bounds that keep a hostile client from holding a slot or
 * memory for free.
 *
 * Time. A connection is always under exactly one deadline, and bytes never move it (node's
 * socket timeout restarts on every byte, so a trickle of one byte every 3 s kept every slot
 * busy for as long as it lasted):
 * - between messages, the idle timeout (RFC 7766 §6.2.3), counted from the last complete query;
 * - from the first byte of a message (its length prefix) to its last, the message timeout;
 * - while reading is stopped with answers queued in Konsul, the message timeout from the last
 *   time the kernel took any of them (`stalled`): a client that stopped reading is closed, its
 *   queued answers dropped, without holding its slot and its reads until the idle timeout;
 * - while reading is stopped with nothing of its own queued (waiting for room in the shared
 *   budget), the idle timeout from the moment it stopped.
 *
 * Memory. Replies queued beyond `connectionOutputBytes` stop the reading of more queries until
 * the kernel has taken them (RFC 7766 §6.2.2 flow control), and the shared OutputBudget does the
 * same across connections. Reading itself waits for the shared InputBudget to let it in (it is
 * accepted paused), which bounds the query bytes read and not yet answered across connections.
 * What is held is at most one read of queries and the bounded replies; closing lets go of both,
 * at once.
 *
 * CPU. Queries are answered in AnswerTurns' turns, a few per connection at a time, never from
 * the socket's own callbacks: however many connections pipeline, one turn of the event loop
 * answers a bounded number of queries.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { InputBudget, InputWaiter } from './tcp-input.js';
import type { OutputBudget, OutputWaiter } from './tcp-output.js';
import type { AnswerTurns, TurnTaker } from './tcp-turns.js';

/** Largest TCP query accepted (RFC 7766 allows 65,535; no query Konsul answers comes close). */
export const MAX_QUERY_BYTES = 4096;

/** Why Konsul itself ended a connection; the label of konsul_dns_tcp_closed_total. */
export type TcpCloseReason =
  'idle' | 'message_timeout' | 'oversize' | 'source_limit' | 'connection_limit' | 'evicted' | 'stalled' | 'shutdown';

export interface ConnectionLimits {
  idleTimeoutMs: number;
  messageTimeoutMs: number;
  connectionOutputBytes: number;
}

export interface ConnectionHost {
  readonly limits: ConnectionLimits;
  readonly budget: OutputBudget;
  readonly input: InputBudget;
  readonly turns: AnswerTurns;
  answer(message: Buffer, source: string): Buffer | null;
  /** Told after each complete query, so the host can tell busy connections from stale ones. */
  served(connection: TcpConnection): void;
  /** Told when the connection's queued answers stop moving (`stuck`) or move again (not). */
  stuck(connection: TcpConnection, stuck: boolean): void;
  /** The shared budget is full: closes connections whose answers have not moved for a while, until it is not. */
  shedStalled(now: number): boolean;
  /** Called once when the connection has closed, however it closed; `reason` is set when Konsul closed it. */
  closed(connection: TcpConnection, reason: TcpCloseReason | undefined): void;
}

const EMPTY = Buffer.alloc(0);

export class TcpConnection implements OutputWaiter, TurnTaker, InputWaiter {
  private pending: Buffer = EMPTY;
  private peerEnded = false;
  /** Reading stopped until queued replies reach the kernel, or the shared budget has room. */
  private held = false;
  /** Waiting in AnswerTurns with whole queries to answer (reading stopped meanwhile). */
  private waitingTurn = false;
  private finished = false;
  private closeReason: TcpCloseReason | undefined;
  private everAnswered = false;
  /** Never let in to read yet (InputWaiter). */
  first = true;
  /** Reply bytes this connection has charged to the budget, and each write's share in write order. */
  private charged = 0;
  private readonly writes: number[] = [];
  private writesHead = 0;

  /** When the last complete query arrived, or the connection was accepted if none has. */
  lastQueryAt: number;
  /** While held with replies queued: when they last moved (reading stopped, or the kernel took some). */
  progressAt = 0;

  private deadlineAt = 0;
  private deadlineReason: TcpCloseReason = 'idle';
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(
    readonly socket: Socket,
    readonly source: string,
    /** The key the per-source limit counts this connection under. */
    readonly sourceKey: string,
    private readonly host: ConnectionHost,
  ) {
    this.lastQueryAt = performance.now();
    this.setDeadline(this.lastQueryAt + host.limits.idleTimeoutMs, 'idle');
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('end', () => {
      this.peerEnded = true;
      this.finishIfDone();
    });
    // Resets and the like end this connection only; there is no one to tell.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.release());
    // Accepted paused (TcpFront): it reads once the input budget lets it in.
    this.readMore();
  }

  /** Reply bytes queued for this connection in Konsul (not yet taken by the kernel). */
  get queuedBytes(): number {
    return this.charged;
  }

  /** Whether any of its queries has been answered yet. */
  get answeredAny(): boolean {
    return this.everAnswered;
  }

  /** Ends the connection now, dropping whatever is queued either way; its slot and bytes are free at once. */
  close(reason: TcpCloseReason): void {
    this.closeReason ??= reason;
    this.socket.destroy();
    this.release();
  }

  /** Its turn (AnswerTurns), or room in the shared budget it was waiting for. */
  takeTurn(most: number): number {
    this.waitingTurn = false;
    if (this.finished) return 0;
    if (this.held) {
      if (this.socket.writableLength > this.host.limits.connectionOutputBytes) return 0;
      this.unhold();
    }
    const answered = this.process(performance.now(), most);
    this.finishIfDone();
    return answered;
  }

  private received(chunk: Buffer): void {
    const now = performance.now();
    this.host.input.unreserve(this);
    if (this.pending.length === 0) {
      // The first byte of a message: its deadline starts now and nothing the client sends moves it.
      this.keep(chunk);
      this.setDeadline(now + this.host.limits.messageTimeoutMs, 'message_timeout');
    } else {
      this.keep(Buffer.concat([this.pending, chunk]));
    }
    const pending = this.pending;
    if (pending.length < 2) return;
    const length = pending.readUInt16BE(0);
    // A query is one question and at most one OPT record: far below this. A larger declared
    // length can only be an attack (a 64 KiB message trickled in, re-buffered per segment).
    if (length > MAX_QUERY_BYTES) {
      this.keep(EMPTY);
      this.close('oversize');
      return;
    }
    if (pending.length < 2 + length || this.held || this.waitingTurn) return;
    // A whole query: the client has done its part, so waiting for the turn is not held against
    // it. Reading stops until the queries read so far are answered, so reads cannot pile up.
    this.setDeadline(now + this.host.limits.idleTimeoutMs, 'idle');
    this.socket.pause();
    this.waitingTurn = true;
    this.host.turns.ready(this, pending.length);
  }

  private process(now: number, most: number): number {
    const { socket, host } = this;
    const limits = host.limits;
    let pending = this.pending;
    let consumed = false;
    let answered = 0;
    // One write (writev) for the answers of this turn rather than a system call for each.
    socket.cork();
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0);
      if (length > MAX_QUERY_BYTES) {
        socket.uncork();
        this.keep(EMPTY);
        this.close('oversize');
        return answered;
      }
      if (pending.length < 2 + length) break;
      // Only a connection with nothing of its own queued may close others to make room: one
      // whose answers wait on its own client is in no position to ask for more.
      if (
        socket.writableLength > limits.connectionOutputBytes ||
        (host.budget.full && (this.charged > 0 || !host.shedStalled(now)))
      ) {
        this.hold(now);
        break;
      }
      if (answered === most) {
        // The rest waits for this connection's next turn; the client is not to blame for that wait.
        this.setDeadline(now + limits.idleTimeoutMs, 'idle');
        this.waitingTurn = true;
        host.turns.again(this);
        break;
      }
      answered++;
      const message = pending.subarray(2, 2 + length);
      pending = pending.subarray(2 + length);
      consumed = true;
      // The next message, if any of it is here, started arriving no later than now.
      this.setDeadline(
        now + (pending.length === 0 ? limits.idleTimeoutMs : limits.messageTimeoutMs),
        pending.length === 0 ? 'idle' : 'message_timeout',
      );
      this.lastQueryAt = now;
      this.everAnswered = true;
      host.served(this);
      const reply = host.answer(message, this.source);
      if (reply !== null) this.send(reply);
    }
    socket.uncork();
    // A partial message waiting for more bytes is copied into a buffer of its own, so the large
    // read buffer it came from can be freed. (Not when stopping with whole queries left: they
    // are most of that buffer anyway, and copying them each turn would cost quadratic time.)
    const waitingForBytes = !this.held && !this.waitingTurn;
    this.keep(consumed && pending.length > 0 && waitingForBytes ? Buffer.from(pending) : pending);
    // Read more only once every whole query read so far is answered: reading on while queries
    // wait would pile read after read into `pending`.
    if (waitingForBytes && !this.finished) this.readMore();
    return answered;
  }

  /** Holds `pending` as the bytes read and not yet answered, and tells the input budget. */
  private keep(pending: Buffer): void {
    this.host.input.adjust(this.sourceKey, pending.length - this.pending.length);
    this.pending = pending;
  }

  /** Reads now if the input budget lets it, or waits in its line until `admitted`. */
  private readMore(): void {
    if (this.host.input.mayRead(this, this.first)) {
      this.first = false;
      this.socket.resume();
      return;
    }
    this.socket.pause();
    // Waiting to be let in is not the client's doing: a message it has begun is not timed meanwhile.
    this.setDeadline(performance.now() + this.host.limits.idleTimeoutMs, 'idle');
  }

  /** InputWaiter: let in, it has sent nothing for a message timeout while others wait to read. */
  closeSilent(): void {
    this.close('idle');
  }

  /** Let in by the input budget (InputWaiter). */
  admitted(): void {
    if (this.finished) return;
    this.first = false;
    // A message begun before the wait has a message timeout again from now.
    if (this.pending.length > 0)
      this.setDeadline(performance.now() + this.host.limits.messageTimeoutMs, 'message_timeout');
    this.socket.resume();
  }

  private send(reply: Buffer): void {
    const frame = Buffer.allocUnsafe(2 + reply.length);
    frame.writeUInt16BE(reply.length, 0);
    reply.copy(frame, 2);
    this.charged += frame.length;
    this.writes.push(frame.length);
    this.host.budget.charge(frame.length);
    this.socket.write(frame, this.flushed);
  }

  /** Write callbacks come in write order, once the kernel has the bytes (or the socket is gone). */
  private readonly flushed = (): void => {
    if (this.finished) return;
    const bytes = this.writes[this.writesHead++];
    if (this.writesHead === this.writes.length) {
      this.writes.length = 0;
      this.writesHead = 0;
    }
    this.charged -= bytes;
    if (this.held) {
      // Its answers moved: not stalled, whatever else it waits for.
      this.progressAt = performance.now();
      this.setWaitDeadline(this.progressAt);
      this.host.stuck(this, this.charged > 0);
      // Under its own bound again, it waits for room in the budget like the rest, and answers in
      // a turn: never from here, since write callbacks run as microtasks and answering from them
      // would starve timers and every other socket while the kernel keeps taking bytes.
      if (this.socket.writableLength <= this.host.limits.connectionOutputBytes) this.host.budget.wait(this);
    }
    // Wakes the turns when there is room and a connection waits for it.
    this.host.budget.release(bytes);
  };

  private hold(now: number): void {
    if (this.held) return;
    this.held = true;
    this.socket.pause();
    this.progressAt = now;
    this.setWaitDeadline(now);
    this.host.stuck(this, this.charged > 0);
    // Over its own bound it waits for its write callbacks; under it, for room in the budget.
    if (this.socket.writableLength <= this.host.limits.connectionOutputBytes) this.host.budget.wait(this);
  }

  /**
   * While held. Answers queued that the kernel does not take mean the client stopped reading:
   * RFC 7766 §6.2.3 lets a server close it, and held until the idle timeout, 1,085 such
   * connections kept their slots and reads 2 s after the attackers of bench/hostile-dns.ts had
   * gone. With nothing of its own queued it only waits for room, which is not its fault.
   */
  private setWaitDeadline(now: number): void {
    if (this.charged > 0) this.setDeadline(now + this.host.limits.messageTimeoutMs, 'stalled');
    else this.setDeadline(now + this.host.limits.idleTimeoutMs, 'idle');
  }

  private unhold(): void {
    this.held = false;
    // Its client took its answers (or room came): back in good standing, the idle clock restarts.
    this.setDeadline(performance.now() + this.host.limits.idleTimeoutMs, 'idle');
    this.host.budget.forget(this);
    this.host.stuck(this, false);
  }

  private finishIfDone(): void {
    // Once the peer has half-closed no more bytes come: a partial message left over is dropped.
    if (this.peerEnded && !this.held && !this.waitingTurn && !this.socket.destroyed) {
      this.keep(EMPTY);
      this.socket.end();
    }
  }

  private setDeadline(at: number, reason: TcpCloseReason): void {
    this.deadlineAt = at;
    this.deadlineReason = reason;
    // A later deadline leaves the timer alone (it re-arms when it fires): most messages only push
    // the deadline out, so pipelined queries cost no timer churn.
    if (this.timer !== undefined && at >= this.timerAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.arm(at, performance.now());
  }

  private arm(at: number, now: number): void {
    this.timerAt = at;
    this.timer = setTimeout(this.expired, Math.max(0, Math.ceil(at - now)));
    this.timer.unref();
  }

  private readonly expired = (): void => {
    this.timer = undefined;
    const now = performance.now();
    if (now >= this.deadlineAt) this.close(this.deadlineReason);
    else this.arm(this.deadlineAt, now);
  };

  private release(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.keep(EMPTY);
    this.host.input.forget(this);
    this.host.input.unreserve(this);
    this.host.budget.forget(this);
    this.host.turns.forget(this);
    this.host.stuck(this, false);
    // Replies still queued die with the socket; their bytes no longer count.
    this.host.budget.release(this.charged);
    this.charged = 0;
    this.writes.length = 0;
    this.host.closed(this, this.closeReason);
  }
}

/**
 * DNS over TCP (RFC 1035 §4.2.2, RFC 7766): the listening side. It caps connections in total and
 * per source, shares one bound on queued replies and one schedule of answering turns
 * (AnswerTurns) between them, and hands each connection to a TcpConnection, which frames,
 * answers and times it. It never stops accepting: when every slot is taken, a connection gives
 * way to the newcomer (see evictFor).
 *
 * Written on node:net rather than dns2's TCP server because that one runs dns2's unbounded
 * Packet.parse on every message and cannot be told to answer from raw bytes.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { peerOctets } from './address.js';
import { TcpConnection, type ConnectionHost, type ConnectionLimits, type TcpCloseReason } from './tcp-connection.js';
import { InputBudget } from './tcp-input.js';
import { OutputBudget } from './tcp-output.js';
import { AnswerTurns } from './tcp-turns.js';

export { MAX_QUERY_BYTES, type TcpCloseReason } from './tcp-connection.js';

export interface TcpFrontOptions extends ConnectionLimits {
  /**
   * Connections held at once. When all are taken, a new one replaces the connection that has
   * gone longest without a complete query, if that is at least messageTimeoutMs, or else the
   * stalest connection of the source holding the most, if that source holds at least two more
   * than the newcomer's; otherwise the new one is closed.
   */
  maxConnections: number;
  /** Connections held at once from one IPv4 address or one IPv6 /64; more are closed on accept. */
  maxConnectionsPerSource: number;
  /**
   * Reply bytes queued in Konsul across all connections before they stop reading queries. When
   * it is reached, connections whose queued replies have not moved for messageTimeoutMs (their
   * clients do not read) are closed to make room.
   */
  outputBytes: number;
  /**
   * Query bytes read and not yet answered across all connections before connections wait to
   * read, those of the source holding the fewest bytes let in first (see InputBudget).
   */
  inputBytes: number;
  /** The reply to one message, or null to send nothing. Must not throw. */
  answer(message: Buffer, source: string): Buffer | null;
  /** Told each time Konsul itself ends or turns away a connection (for metrics). */
  onClose?(reason: TcpCloseReason): void;
}

export class TcpFront implements ConnectionHost {
  readonly server: Server;
  readonly limits: ConnectionLimits;
  readonly budget: OutputBudget;
  readonly input: InputBudget;
  readonly turns: AnswerTurns;
  /** Open connections, least recently queried first (a Set keeps insertion order). */
  private readonly connections = new Set<TcpConnection>();
  /** The same by source key, each least recently queried first. */
  private readonly perSource = new Map<string, Set<TcpConnection>>();
  /** Held connections with replies queued, those whose replies moved longest ago first. */
  private readonly stalled = new Set<TcpConnection>();
  private shedTimer: NodeJS.Timeout | undefined;
  private onEmpty: (() => void) | undefined;

  constructor(private readonly options: TcpFrontOptions) {
    this.limits = {
      idleTimeoutMs: options.idleTimeoutMs,
      messageTimeoutMs: options.messageTimeoutMs,
      connectionOutputBytes: options.connectionOutputBytes,
    };
    this.budget = new OutputBudget(options.outputBytes);
    this.input = new InputBudget(
      options.inputBytes,
      options.messageTimeoutMs,
      (key) => this.perSource.get(key)?.size ?? 0,
    );
    this.turns = new AnswerTurns(this.budget, this.input);
    // allowHalfOpen: a client may send its query and half-close at once; it still gets the reply.
    // pauseOnConnect: a connection reads only once the input budget lets it in (TcpConnection).
    this.server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (socket) =>
      this.accept(socket),
    );
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Query bytes read and not yet answered across all connections. */
  get heldInputBytes(): number {
    return this.input.heldBytes;
  }

  /** Reply bytes queued in Konsul (not yet taken by the kernel) across all connections. */
  get queuedOutputBytes(): number {
    return this.budget.queuedBytes;
  }

  /** Listens on `port` (0: one the kernel picks); resolves with the port. */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      // Node's default backlog (511) overflowed when 4,096 clients connected at once, and the
      // kernel then drops handshakes, which clients retry only after a second or more. Room for a
      // full set of newcomers at once (the kernel caps it at net.core.somaxconn).
      const backlog = Math.max(511, this.options.maxConnections);
      this.server.listen({ port, host, exclusive: true, backlog }, () => {
        this.server.off('error', onError);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops listening and ends every connection; resolves once each has let go of its buffers. */
  async close(): Promise<void> {
    const released = new Promise<void>((resolve) => {
      this.onEmpty = resolve;
      if (this.connections.size === 0) resolve();
    });
    this.turns.close();
    this.input.close();
    if (this.shedTimer !== undefined) clearTimeout(this.shedTimer);
    this.shedTimer = undefined;
    for (const connection of this.connections) connection.close('shutdown');
    await Promise.all([new Promise<void>((resolve) => this.server.close(() => resolve())), released]);
  }

  answer(message: Buffer, source: string): Buffer | null {
    return this.options.answer(message, source);
  }

  served(connection: TcpConnection): void {
    // Move to the back: the front of each set is then the connection to give up first.
    if (this.connections.delete(connection)) this.connections.add(connection);
    const siblings = this.perSource.get(connection.sourceKey);
    if (siblings?.delete(connection) === true) siblings.add(connection);
  }

  stuck(connection: TcpConnection, stuck: boolean): void {
    this.stalled.delete(connection);
    if (stuck) this.stalled.add(connection);
  }

  /**
   * RFC 7766 §6.2.3 lets a server under pressure close connections. The shared budget is full:
   * connections whose queued replies have not moved for a message timeout (their clients do not
   * read) are closed, those stalled longest first, until it is not. Without this the budget
   * stayed full for as long as they did, and every other connection, a new client's included,
   * waited behind them.
   */
  shedStalled(now: number): boolean {
    for (const connection of this.stalled) {
      if (!this.budget.full) break;
      if (now - connection.progressAt < this.limits.messageTimeoutMs) {
        // Not stalled long enough yet: look again when it will have been, as someone waits for room.
        this.armShed(connection.progressAt + this.limits.messageTimeoutMs - now);
        break;
      }
      connection.close('stalled');
    }
    return !this.budget.full;
  }

  private armShed(delayMs: number): void {
    if (this.shedTimer !== undefined) return;
    this.shedTimer = setTimeout(this.shedAgain, Math.max(1, Math.ceil(delayMs)));
    this.shedTimer.unref();
  }

  private readonly shedAgain = (): void => {
    this.shedTimer = undefined;
    // Room made here reaches the waiting connections through the budget (OutputBudget.onRoom).
    if (this.budget.full && this.budget.waiting > 0) this.shedStalled(performance.now());
  };

  closed(connection: TcpConnection, reason: TcpCloseReason | undefined): void {
    this.connections.delete(connection);
    this.stalled.delete(connection);
    const siblings = this.perSource.get(connection.sourceKey);
    siblings?.delete(connection);
    if (siblings?.size === 0) this.perSource.delete(connection.sourceKey);
    if (reason !== undefined && reason !== 'shutdown') this.options.onClose?.(reason);
    if (this.connections.size === 0) this.onEmpty?.();
  }

  private accept(socket: Socket): void {
    const source = socket.remoteAddress ?? '';
    const key = sourceKey(source);
    const held = this.perSource.get(key)?.size ?? 0;
    if (held >= this.options.maxConnectionsPerSource) {
      // One host must not be able to take every slot; a host that needs more connections than
      // this is better served by pipelining over the ones it has (RFC 7766 §6.2.1.1).
      socket.on('error', () => undefined);
      socket.destroy();
      this.options.onClose?.('source_limit');
      return;
    }
    if (this.connections.size >= this.options.maxConnections && !this.evictFor(held)) {
      socket.on('error', () => undefined);
      socket.destroy();
      this.options.onClose?.('connection_limit');
      return;
    }
    this.turns.accepted();
    const connection = new TcpConnection(socket, source, key, this);
    this.connections.add(connection);
    const siblings = this.perSource.get(key);
    if (siblings === undefined) this.perSource.set(key, new Set([connection]));
    else siblings.add(connection);
  }

  /**
   * RFC 7766 §6.2.3 lets a busy server close idle connections. When every slot is taken:
   * - the connection that has gone longest without a complete query gives way to the newcomer,
   *   provided it has had a message timeout to send one: slots held by connections that send
   *   nothing, or trickle, go to clients with a query to ask, and a fresh client keeps its slot
   *   long enough to ask it;
   * - failing that (every connection is busy, as when thousands pipeline queries), the source
   *   holding the most connections gives up its stalest, if it holds at least two more than the
   *   newcomer's source (`held`): a few hosts flooding from every slot cannot lock out a host
   *   that asks for its first, while two sources already sharing evenly do not trade slots.
   */
  private evictFor(held: number): boolean {
    const stalest = this.connections.values().next().value;
    if (stalest === undefined) return false;
    let victim: TcpConnection | undefined;
    if (performance.now() - stalest.lastQueryAt >= this.limits.messageTimeoutMs) {
      victim = stalest;
    } else {
      let largest: Set<TcpConnection> | undefined;
      for (const siblings of this.perSource.values()) {
        if (siblings.size > (largest?.size ?? 0)) largest = siblings;
      }
      if (largest !== undefined && largest.size >= held + 2) victim = largest.values().next().value;
    }
    if (victim === undefined) return false;
    victim.close('evicted');
    return true;
  }
}

/**
 * What the per-source limit counts by: the IPv4 address, or the /64 of an IPv6 one, since a
 * single IPv6 host is usually handed a whole /64 (RFC 7421) and can pick any address in it.
 */
export function sourceKey(address: string): string {
  const octets = peerOctets(address);
  if (octets === undefined) return address;
  return octets.length === 4 ? octets.join('.') : octets.toString('hex', 0, 8);
}

/**
 * DNS over TCP (RFC 1035 §4.2.2, RFC 7766): the listening side. It caps connections in total and
 * per source, shares one bound on queued replies between them, and hands each connection to a
 * TcpConnection, which frames, answers and times it.
 *
 * Written on node:net rather than dns2's TCP server because that one runs dns2's unbounded
 * Packet.parse on every message and cannot be told to answer from raw bytes.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { peerOctets } from './address.js';
import { TcpConnection, type ConnectionHost, type ConnectionLimits, type TcpCloseReason } from './tcp-connection.js';
import { OutputBudget } from './tcp-output.js';

export { MAX_QUERY_BYTES, type TcpCloseReason } from './tcp-connection.js';

export interface TcpFrontOptions extends ConnectionLimits {
  /**
   * Connections held at once. When all are taken, a new one replaces the connection that has
   * gone longest without a complete query, if that is at least messageTimeoutMs; otherwise the
   * new one is closed.
   */
  maxConnections: number;
  /** Connections held at once from one IPv4 address or one IPv6 /64; more are closed on accept. */
  maxConnectionsPerSource: number;
  /** Reply bytes queued in Konsul across all connections before they stop reading queries. */
  outputBytes: number;
  /** The reply to one message, or null to send nothing. Must not throw. */
  answer(message: Buffer, source: string): Buffer | null;
  /** Told each time Konsul itself ends or turns away a connection (for metrics). */
  onClose?(reason: TcpCloseReason): void;
}

export class TcpFront implements ConnectionHost {
  readonly server: Server;
  readonly limits: ConnectionLimits;
  readonly budget: OutputBudget;
  /** Open connections, least recently queried first (a Set keeps insertion order). */
  private readonly connections = new Set<TcpConnection>();
  private readonly perSource = new Map<string, number>();
  private onEmpty: (() => void) | undefined;

  constructor(private readonly options: TcpFrontOptions) {
    this.limits = {
      idleTimeoutMs: options.idleTimeoutMs,
      messageTimeoutMs: options.messageTimeoutMs,
      connectionOutputBytes: options.connectionOutputBytes,
    };
    this.budget = new OutputBudget(options.outputBytes);
    // allowHalfOpen: a client may send its query and half-close at once; it still gets the reply.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Reply bytes queued in Konsul (not yet taken by the kernel) across all connections. */
  get queuedOutputBytes(): number {
    return this.budget.queuedBytes;
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen({ port, host, exclusive: true }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  /** Stops listening and ends every connection; resolves once each has let go of its buffers. */
  async close(): Promise<void> {
    const released = new Promise<void>((resolve) => {
      this.onEmpty = resolve;
      if (this.connections.size === 0) resolve();
    });
    for (const connection of this.connections) connection.close('shutdown');
    await Promise.all([new Promise<void>((resolve) => this.server.close(() => resolve())), released]);
  }

  answer(message: Buffer, source: string): Buffer | null {
    return this.options.answer(message, source);
  }

  served(connection: TcpConnection): void {
    // Move to the back: the front of the set is then the connection to give up first.
    if (this.connections.delete(connection)) this.connections.add(connection);
  }

  closed(connection: TcpConnection, reason: TcpCloseReason | undefined): void {
    this.connections.delete(connection);
    const left = (this.perSource.get(connection.sourceKey) ?? 1) - 1;
    if (left > 0) this.perSource.set(connection.sourceKey, left);
    else this.perSource.delete(connection.sourceKey);
    if (reason !== undefined && reason !== 'shutdown') this.options.onClose?.(reason);
    if (this.connections.size === 0) this.onEmpty?.();
  }

  private accept(socket: Socket): void {
    const source = socket.remoteAddress ?? '';
    const key = sourceKey(source);
    const held = this.perSource.get(key) ?? 0;
    if (held >= this.options.maxConnectionsPerSource) {
      // One host must not be able to take every slot; a host that needs more connections than
      // this is better served by pipelining over the ones it has (RFC 7766 §6.2.1.1).
      socket.on('error', () => undefined);
      socket.destroy();
      this.options.onClose?.('source_limit');
      return;
    }
    if (this.connections.size >= this.options.maxConnections && !this.evictStalest()) {
      socket.on('error', () => undefined);
      socket.destroy();
      this.options.onClose?.('connection_limit');
      return;
    }
    this.perSource.set(key, held + 1);
    this.connections.add(new TcpConnection(socket, source, key, this));
  }

  /**
   * RFC 7766 §6.2.3 lets a server under pressure close idle connections. When every slot is
   * taken, the one that has gone longest without a complete query gives way to the newcomer,
   * provided it has had a message timeout to send one: slots held by connections that send
   * nothing, or trickle, go to clients with a query to ask, and a fresh client keeps its slot
   * long enough to ask it.
   */
  private evictStalest(): boolean {
    const stalest = this.connections.values().next().value;
    if (stalest === undefined || performance.now() - stalest.lastQueryAt < this.limits.messageTimeoutMs) return false;
    // Out of the set now, so the next newcomer in this same tick looks at the next one.
    this.connections.delete(stalest);
    stalest.close('evicted');
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

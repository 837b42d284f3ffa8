/**
 * DNS over TCP (RFC 1035 §4.2.2, RFC 7766): each message is prefixed by its length in two
 * octets. A connection may carry several queries (pipelined, RFC 7766 §6.2.1.1) and a query may
 * arrive split over several reads or several queries in one read. Replies go out in query order.
 *
 * Written on node:net rather than dns2's TCP server because that one runs dns2's unbounded
 * Packet.parse on every message and cannot be told to answer from raw bytes.
 */
import { createServer, type Server, type Socket } from 'node:net';

export interface TcpFrontOptions {
  /** Connections held at once; more are refused by the kernel accept path (net.Server.maxConnections). */
  maxConnections: number;
  /** RFC 7766 §6.2.3: close connections idle this long. */
  idleTimeoutMs: number;
  /** The reply to one message, or null to send nothing. Must not throw. */
  answer(message: Buffer, source: string): Buffer | null;
}

/** Bytes of replies queued in a connection before it stops reading queries (RFC 7766 §6.2.2 flow control). */
/** Largest TCP query accepted (RFC 7766 allows 65,535; no query Konsul answers comes close). */
export const MAX_QUERY_BYTES = 4096;
const WRITE_HIGH_WATER = 256 * 1024;

export class TcpFront {
  readonly server: Server;
  private readonly connections = new Set<Socket>();

  constructor(private readonly options: TcpFrontOptions) {
    // allowHalfOpen: a client may send its query and half-close at once; it still gets the reply.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    this.server.maxConnections = options.maxConnections;
  }

  get connectionCount(): number {
    return this.connections.size;
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

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const socket of this.connections) socket.destroy();
      this.connections.clear();
      this.server.close(() => resolve());
    });
  }

  private accept(socket: Socket): void {
    const connections = this.connections;
    connections.add(socket);
    const source = socket.remoteAddress ?? '';
    let pending: Buffer = Buffer.alloc(0);
    let peerEnded = false;
    let waitingForDrain = false;

    const finishIfDone = (): void => {
      // Once the peer has half-closed no more bytes come: a partial message left over is dropped.
      if (peerEnded && !waitingForDrain && !socket.destroyed) socket.end();
    };
    const drain = (): void => {
      let consumed = false;
      while (!waitingForDrain && pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        // A query is one question and at most one OPT record: far below this. A larger declared
        // length can only be an attack (a 64 KiB message trickled in, re-buffered per segment).
        if (length > MAX_QUERY_BYTES) {
          socket.destroy();
          return;
        }
        if (pending.length < 2 + length) break;
        const message = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        consumed = true;
        const reply = this.options.answer(message, source);
        if (reply === null) continue;
        const frame = Buffer.allocUnsafe(2 + reply.length);
        frame.writeUInt16BE(reply.length, 0);
        reply.copy(frame, 2);
        socket.write(frame);
        if (socket.writableLength > WRITE_HIGH_WATER) {
          // The client is not reading its answers: stop reading its queries until it catches up.
          waitingForDrain = true;
          socket.pause();
          socket.once('drain', () => {
            waitingForDrain = false;
            socket.resume();
            drain();
            finishIfDone();
          });
        }
      }
      // Keep the unread tail in a buffer of its own so the large read buffer it came from can be freed.
      if (consumed && pending.length > 0) pending = Buffer.from(pending);
    };

    socket.setTimeout(this.options.idleTimeoutMs, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      drain();
    });
    socket.on('end', () => {
      peerEnded = true;
      finishIfDone();
    });
    // Resets and the like end this connection only; there is no one to tell.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => connections.delete(socket));
  }
}

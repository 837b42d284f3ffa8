/**
 * A bare HTTP/1.1 keep-alive connection over node:net: writes a prebuilt GET and reads the
 * answer by its content-length. Thousands of these cost the load generator far less than
 * node:http clients would, so a watcher figure measures the server rather than the client.
 * Only what Konsul's answers need: no chunked bodies, one request in flight per connection.
 */
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  status: number;
  /** performance.now() when the last byte arrived. */
  at: number;
}

export class RawConnection {
  private socket: Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: { resolve: (answer: RawAnswer) => void; reject: (error: Error) => void } | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  open(): Promise<void> {
    return new Promise((resolveOpen, reject) => {
      const socket = connect({ host: this.host, port: this.port, noDelay: true }, () => resolveOpen());
      socket.once('error', reject);
      socket.on('error', (error) => this.fail(error));
      socket.on('close', () => this.fail(new Error('connection closed')));
      socket.on('data', (chunk: Buffer) => this.read(chunk));
      this.socket = socket;
    });
  }

  get(path: string): Promise<RawAnswer> {
    if (this.socket === undefined || this.pending !== undefined)
      return Promise.reject(new Error('connection not open, or busy'));
    return new Promise((resolveAnswer, reject) => {
      this.pending = { resolve: resolveAnswer, reject };
      this.socket!.write(`GET ${path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\n\r\n`);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private read(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const headerEnd = this.buffer.indexOf('\r\n\r\n');
    if (headerEnd < 0) return;
    const head = this.buffer.subarray(0, headerEnd).toString('latin1');
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (length === null) {
      this.fail(new Error(`an answer without content-length: ${head.split('\r\n')[0]}`));
      return;
    }
    const end = headerEnd + 4 + Number(length[1]);
    if (this.buffer.length < end) return;
    const status = Number(head.slice(9, 12));
    this.buffer = this.buffer.subarray(end);
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve({ status, at: performance.now() });
  }

  private fail(error: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(error);
  }
}

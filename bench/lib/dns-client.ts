/** A fire-and-count UDP DNS client: enough to keep Konsul's DNS face busy during the soak. */
import { createSocket, type Socket } from 'node:dgram';

/** An A query for `name` with the given 16-bit id (RFC 1035 §4.1.1: header, then QNAME, QTYPE=1, QCLASS=1). */
export function aQuery(name: string, id: number): Buffer {
  const labels = name.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)]));
  return Buffer.concat([
    Buffer.from([(id >> 8) & 255, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...labels,
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
}

export class DnsLoad {
  private readonly socket: Socket = createSocket('udp4');
  private readonly query: Buffer;
  sent = 0;
  answered = 0;

  constructor(
    private readonly port: number,
    name: string,
  ) {
    this.query = aQuery(name, 0x4b4e);
    this.socket.on('message', () => this.answered++);
    this.socket.on('error', () => undefined);
  }

  send(count: number): void {
    for (let i = 0; i < count; i++) {
      this.sent++;
      this.socket.send(this.query, this.port, '127.0.0.1');
    }
  }

  close(): void {
    this.socket.close();
  }
}

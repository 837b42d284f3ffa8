/**
 * What the DNS tests need around a real Konsul DNS server: a fixture (SQLite catalog, strategy
 * manager, registry, silent logger, server on 127.0.0.1:0), a query builder, raw UDP and TCP
 * exchanges, and a strict decoder that fails on anything a well-formed response would not have.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import type { Catalog } from '../../src/catalog/catalog.js';
import type { Registration } from '../../src/catalog/types.js';
import { loadConfig, type Config } from '../../src/config/load.js';
import { startDnsServer, type DnsServer } from '../../src/dns/server.js';
import { createStrategyManager, type StrategyManager } from '../../src/lb/manager.js';
import { openCatalog, tempDir } from './catalog.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  AXFR: 252,
  ANY: 255,
} as const;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

export interface DnsFixture {
  server: DnsServer;
  catalog: Catalog;
  lb: StrategyManager;
  registry: Registry;
  config: Config['dns'];
  register(registration: Registration): Promise<string>;
}

/** A catalog on a temp SQLite file and a DNS server over it; everything closes when the test ends. */
export async function startDnsFixture(
  t: Teardown,
  dns: Partial<Omit<Config['dns'], 'tcp'>> & { tcp?: Partial<Config['dns']['tcp']> } = {},
  options: { lb?: Partial<Config['lb']>; tcpIdleTimeoutMs?: number; readsProtected?: boolean; logger?: Logger } = {},
): Promise<DnsFixture> {
  const full = loadConfig({ env: {} });
  const tcp: Config['dns']['tcp'] = {
    ...full.dns.tcp,
    idleTimeout: `${options.tcpIdleTimeoutMs ?? 2000}ms`,
    ...dns.tcp,
  };
  const config: Config['dns'] = { ...full.dns, host: '127.0.0.1', port: 0, ...dns, tcp };
  const catalog = await openCatalog(t, join(tempDir(t), 'konsul.db'));
  const lb = createStrategyManager({ ...full.lb, ...options.lb });
  const registry = new Registry();
  const server = await startDnsServer({
    config,
    catalog,
    lb,
    registry,
    logger: options.logger ?? pino({ level: 'silent' }),
    ...(options.readsProtected === undefined ? {} : { readsProtected: options.readsProtected }),
  });
  t.teardown(() => server.close());
  return {
    server,
    catalog,
    lb,
    registry,
    config,
    async register(registration) {
      const checks = registration.checks ?? [{ type: 'ttl', ttl: '30s', status: 'passing' }];
      return (await catalog.register({ ...registration, checks })).id;
    },
  };
}

export interface QueryOptions {
  id?: number;
  /** Adds an OPT record offering this UDP payload size. */
  udpSize?: number;
  ednsVersion?: number;
  dnssecOk?: boolean;
  /** RFC 7871 Client Subnet: an IPv4 or IPv6 address and source prefix length. */
  clientSubnet?: { address: string; prefix: number };
  qclass?: number;
  rd?: boolean;
}

export function buildQuery(name: string, type: number, options: QueryOptions = {}): Buffer {
  const labels = name.split('.').filter((label) => label !== '');
  const nameBytes = Buffer.concat([
    ...labels.map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'latin1')])),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(options.id ?? 0x1234, 0);
  header.writeUInt16BE(options.rd === false ? 0 : 0x0100, 2);
  header.writeUInt16BE(1, 4);
  const question = Buffer.alloc(4);
  question.writeUInt16BE(type, 0);
  question.writeUInt16BE(options.qclass ?? 1, 2);
  const parts = [header, nameBytes, question];
  if (options.udpSize !== undefined || options.clientSubnet !== undefined || options.ednsVersion !== undefined) {
    header.writeUInt16BE(1, 10);
    let rdata = Buffer.alloc(0);
    if (options.clientSubnet !== undefined) {
      const { address, prefix } = options.clientSubnet;
      const v6 = address.includes(':');
      const full = v6 ? ipv6Bytes(address) : Buffer.from(address.split('.').map(Number));
      const octets = full.subarray(0, Math.ceil(prefix / 8));
      rdata = Buffer.alloc(8 + octets.length);
      rdata.writeUInt16BE(8, 0);
      rdata.writeUInt16BE(4 + octets.length, 2);
      rdata.writeUInt16BE(v6 ? 2 : 1, 4);
      rdata[6] = prefix;
      rdata[7] = 0;
      octets.copy(rdata, 8);
    }
    const opt = Buffer.alloc(11);
    opt[0] = 0;
    opt.writeUInt16BE(TYPE.OPT, 1);
    opt.writeUInt16BE(options.udpSize ?? 1232, 3);
    opt[6] = options.ednsVersion ?? 0;
    opt.writeUInt16BE(options.dnssecOk === true ? 0x8000 : 0, 7);
    opt.writeUInt16BE(rdata.length, 9);
    parts.push(opt, rdata);
  }
  return Buffer.concat(parts);
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail = ''] = address.split('::');
  const headWords = head === '' ? [] : head.split(':');
  const tailWords = tail === '' ? [] : tail.split(':');
  const words = [...headWords, ...new Array<string>(8 - headWords.length - tailWords.length).fill('0'), ...tailWords];
  const out = Buffer.alloc(16);
  words.forEach((word, i) => out.writeUInt16BE(parseInt(word, 16), i * 2));
  return out;
}

export interface DecodedRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  rdata: Buffer;
  /** A/AAAA address, CNAME/NS target, SRV target. */
  address?: string;
  target?: string;
  priority?: number;
  weight?: number;
  port?: number;
  soa?: { mname: string; rname: string; serial: number; minimum: number };
}

export interface DecodedMessage {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  /** Full RCODE: the header's 4 bits plus OPT's extended bits. */
  rcode: number;
  question: { name: string; type: number; class: number } | undefined;
  answers: DecodedRecord[];
  authority: DecodedRecord[];
  additional: DecodedRecord[];
  opt: { udpSize: number; version: number; dnssecOk: boolean; options: { code: number; data: Buffer }[] } | undefined;
  size: number;
}

/** Decodes a response, throwing on truncated records, forward or looping pointers and trailing bytes. */
export function decodeMessage(message: Buffer): DecodedMessage {
  if (message.length < 12) throw new Error(`response of ${message.length} bytes has no header`);
  const flags = message.readUInt16BE(2);
  const counts = [4, 6, 8, 10].map((offset) => message.readUInt16BE(offset));
  let offset = 12;
  const readName = (): string => {
    const labels: string[] = [];
    let cursor = offset;
    let jumped = false;
    let hops = 0;
    for (;;) {
      if (cursor >= message.length) throw new Error('name runs past the end');
      const length = message[cursor];
      if ((length & 0xc0) === 0xc0) {
        const target = ((length & 0x3f) << 8) | message[cursor + 1];
        if (target >= cursor || ++hops > 20) throw new Error('compression pointer is not backward');
        if (!jumped) offset = cursor + 2;
        jumped = true;
        cursor = target;
        continue;
      }
      if (length > 63) throw new Error('bad label length');
      if (length === 0) {
        if (!jumped) offset = cursor + 1;
        return labels.join('.');
      }
      labels.push(message.toString('latin1', cursor + 1, cursor + 1 + length));
      cursor += 1 + length;
    }
  };
  let question: DecodedMessage['question'];
  for (let i = 0; i < counts[0]; i++) {
    const name = readName();
    question = { name, type: message.readUInt16BE(offset), class: message.readUInt16BE(offset + 2) };
    offset += 4;
  }
  const sections: DecodedRecord[][] = [[], [], []];
  let opt: DecodedMessage['opt'];
  let extendedRcode = 0;
  for (let section = 0; section < 3; section++) {
    for (let i = 0; i < counts[section + 1]; i++) {
      const name = readName();
      if (offset + 10 > message.length) throw new Error('record header runs past the end');
      const type = message.readUInt16BE(offset);
      const klass = message.readUInt16BE(offset + 2);
      const ttl = message.readUInt32BE(offset + 4);
      const length = message.readUInt16BE(offset + 8);
      offset += 10;
      const end = offset + length;
      if (end > message.length) throw new Error('rdata runs past the end');
      const rdata = message.subarray(offset, end);
      if (type === TYPE.OPT) {
        if (section !== 2 || opt !== undefined) throw new Error('OPT outside the additional section or twice');
        const options: { code: number; data: Buffer }[] = [];
        for (let cursor = 0; cursor < rdata.length;) {
          const code = rdata.readUInt16BE(cursor);
          const size = rdata.readUInt16BE(cursor + 2);
          options.push({ code, data: rdata.subarray(cursor + 4, cursor + 4 + size) });
          cursor += 4 + size;
        }
        extendedRcode = ttl >>> 24;
        opt = { udpSize: klass, version: (ttl >>> 16) & 0xff, dnssecOk: (ttl & 0x8000) !== 0, options };
        offset = end;
        continue;
      }
      const record: DecodedRecord = { name, type, class: klass, ttl, rdata };
      if (type === TYPE.A || type === TYPE.AAAA) {
        if (rdata.length !== (type === TYPE.A ? 4 : 16)) throw new Error('address of the wrong length');
        record.address =
          type === TYPE.A
            ? [...rdata].join('.')
            : Array.from({ length: 8 }, (_, w) => rdata.readUInt16BE(w * 2).toString(16)).join(':');
        offset = end;
      } else if (type === TYPE.CNAME || type === TYPE.NS) {
        record.target = readName();
      } else if (type === TYPE.SRV) {
        record.priority = rdata.readUInt16BE(0);
        record.weight = rdata.readUInt16BE(2);
        record.port = rdata.readUInt16BE(4);
        offset += 6;
        record.target = readName();
      } else if (type === TYPE.SOA) {
        const mname = readName();
        const rname = readName();
        record.soa = { mname, rname, serial: message.readUInt32BE(offset), minimum: message.readUInt32BE(offset + 16) };
        offset += 20;
      } else {
        offset = end;
      }
      if (offset !== end) throw new Error(`rdata of type ${type} has ${end - offset} unexplained bytes`);
      sections[section].push(record);
    }
  }
  if (offset !== message.length) throw new Error(`${message.length - offset} trailing bytes`);
  return {
    id: message.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0x0f,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: (extendedRcode << 4) | (flags & 0x0f),
    question,
    answers: sections[0],
    authority: sections[1],
    additional: sections[2],
    opt,
    size: message.length,
  };
}

/** A UDP socket for raw exchanges with the server; closed when the test ends. */
export class UdpExchange {
  private readonly socket: Socket = createSocket('udp4');
  private readonly received: Buffer[] = [];
  private waiter: (() => void) | undefined;

  /** `localAddress` sends from that address (any of 127.0.0.0/8 works on Linux loopback). */
  constructor(
    t: Teardown,
    private readonly port: number,
    localAddress?: string,
  ) {
    if (localAddress !== undefined) this.socket.bind({ address: localAddress, port: 0 });
    this.socket.on('message', (message) => {
      this.received.push(message);
      this.waiter?.();
    });
    t.teardown(() => new Promise<void>((resolve) => this.socket.close(() => resolve())));
  }

  send(message: Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.send(message, this.port, '127.0.0.1', (error) => (error ? reject(error) : resolve())),
    );
  }

  /** The next datagram, or undefined when none arrives within `timeoutMs`. */
  async next(timeoutMs = 2000): Promise<Buffer | undefined> {
    if (this.received.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.received.shift();
  }

  async query(message: Buffer, timeoutMs = 2000): Promise<DecodedMessage> {
    await this.send(message);
    const reply = await this.next(timeoutMs);
    if (reply === undefined) throw new Error('no answer within the timeout');
    return decodeMessage(reply);
  }
}

/** One query over UDP from a fresh socket. */
export async function udpQuery(
  t: Teardown,
  port: number,
  name: string,
  type: number,
  options: QueryOptions = {},
): Promise<DecodedMessage> {
  return new UdpExchange(t, port).query(buildQuery(name, type, options));
}

/**
 * Sends `messages` over one TCP connection (length-prefixed, written in `chunks` of at most that
 * many bytes to exercise partial reads) and collects `expected` replies.
 */
export function tcpExchange(
  port: number,
  messages: Buffer[],
  options: { chunkSize?: number; expected?: number; localAddress?: string } = {},
): Promise<DecodedMessage[]> {
  const framed = Buffer.concat(
    messages.map((message) => Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message])),
  );
  const expected = options.expected ?? messages.length;
  return new Promise((resolve, reject) => {
    const socket = connect({
      port,
      host: '127.0.0.1',
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    let pending = Buffer.alloc(0);
    const replies: DecodedMessage[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`only ${replies.length} of ${expected} TCP replies arrived`));
    }, 3000);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const length = pending.readUInt16BE(0);
        replies.push(decodeMessage(pending.subarray(2, 2 + length)));
        pending = pending.subarray(2 + length);
      }
      if (replies.length >= expected) {
        clearTimeout(timer);
        socket.end();
        resolve(replies);
      }
    });
    const writeAll = async (): Promise<void> => {
      const chunkSize = options.chunkSize ?? framed.length;
      for (let offset = 0; offset < framed.length; offset += chunkSize) {
        socket.write(framed.subarray(offset, offset + chunkSize));
        // Separate writes so the server sees separate reads.
        if (chunkSize < framed.length) await new Promise((next) => setTimeout(next, 5));
      }
    };
    socket.on('connect', () => void writeAll());
  });
}

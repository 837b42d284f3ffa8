/**
 * What the DNS face would answer for a name, for the web UI: a real query message goes through
 * the same guard and responder as one from the network, and the answer's bytes are read back
 * into records here. Nothing in the answer is computed twice.
 */
import { formatOctets } from './address.js';
import { encodeName, HEADER_SIZE, QCLASS, QTYPE, RCODE } from './wire.js';

export interface PreviewRecord {
  name: string;
  type: string;
  ttl: number;
  /** Presentation form, as dig prints it: `10.0.0.1`, `1 1 8080 web-1.node.konsul.`. */
  data: string;
}

export interface PreviewAnswer {
  name: string;
  type: 'A' | 'AAAA' | 'SRV';
  rcode: string;
  truncated: boolean;
  answers: PreviewRecord[];
  additionals: PreviewRecord[];
}

export const PREVIEW_TYPES = { A: QTYPE.A, AAAA: QTYPE.AAAA, SRV: QTYPE.SRV } as const;
export type PreviewType = keyof typeof PREVIEW_TYPES;

/** A standard query for `name` with RD clear and no EDNS, as a stub would send it. */
export function previewQuery(name: string, type: PreviewType): Buffer {
  const question = encodeName(name);
  const message = Buffer.alloc(HEADER_SIZE + question.length + 4);
  message.writeUInt16BE(0x4b50, 0); // id: any value, the answer is not matched to a socket
  message.writeUInt16BE(1, 4); // QDCOUNT
  question.copy(message, HEADER_SIZE);
  message.writeUInt16BE(PREVIEW_TYPES[type], HEADER_SIZE + question.length);
  message.writeUInt16BE(QCLASS.IN, HEADER_SIZE + question.length + 2);
  return message;
}

const TYPE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(QTYPE).map(([name, code]) => [code, name]));
const RCODE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(RCODE).map(([name, code]) => [code, name]));
/** Compression pointers followed while reading one name: more means a loop (our own answers never have one). */
const MAX_POINTERS = 32;

/** Reads the answer and additional sections of a message the responder built. */
export function readPreviewAnswer(message: Buffer, name: string, type: PreviewType, truncated: boolean): PreviewAnswer {
  const flags = message.readUInt16BE(2);
  const qdcount = message.readUInt16BE(4);
  const ancount = message.readUInt16BE(6);
  const nscount = message.readUInt16BE(8);
  const arcount = message.readUInt16BE(10);
  let offset = HEADER_SIZE;
  for (let i = 0; i < qdcount; i++) offset = readName(message, offset).end + 4;
  const answers: PreviewRecord[] = [];
  const additionals: PreviewRecord[] = [];
  for (let i = 0; i < ancount + nscount + arcount; i++) {
    const record = readRecord(message, offset);
    offset = record.end;
    if (i < ancount) answers.push(record.record);
    else if (i >= ancount + nscount && record.record.type !== 'OPT') additionals.push(record.record);
  }
  const rcode = flags & 0x0f;
  return { name, type, rcode: RCODE_NAMES.get(rcode) ?? String(rcode), truncated, answers, additionals };
}

function readRecord(message: Buffer, start: number): { record: PreviewRecord; end: number } {
  const owner = readName(message, start);
  let offset = owner.end;
  const type = message.readUInt16BE(offset);
  const ttl = message.readUInt32BE(offset + 4);
  const length = message.readUInt16BE(offset + 8);
  offset += 10;
  const rdata = message.subarray(offset, offset + length);
  let data: string;
  if (type === QTYPE.A || type === QTYPE.AAAA) data = formatOctets(rdata);
  else if (type === QTYPE.SRV)
    data = `${rdata.readUInt16BE(0)} ${rdata.readUInt16BE(2)} ${rdata.readUInt16BE(4)} ${readName(message, offset + 6).name}`;
  else if (type === QTYPE.CNAME || type === QTYPE.NS) data = readName(message, offset).name;
  else data = rdata.toString('hex');
  return {
    record: { name: owner.name, type: TYPE_NAMES.get(type) ?? String(type), ttl, data },
    end: offset + length,
  };
}

/** A possibly compressed name (RFC 1035 §4.1.4) as dig prints it, with its trailing dot. */
function readName(message: Buffer, start: number): { name: string; end: number } {
  const labels: string[] = [];
  let offset = start;
  let end = -1;
  for (let pointers = 0; ;) {
    const length = message[offset];
    if (length === 0) {
      if (end < 0) end = offset + 1;
      break;
    }
    if ((length & 0xc0) === 0xc0) {
      if (++pointers > MAX_POINTERS) throw new Error('DNS name compression loop');
      if (end < 0) end = offset + 2;
      offset = message.readUInt16BE(offset) & 0x3fff;
      continue;
    }
    labels.push(message.toString('latin1', offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  return { name: `${labels.join('.')}.`, end };
}

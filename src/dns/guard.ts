/**
 * The cheap checks every datagram passes before anything else looks at it. They run in time
 * proportional to the packet's length, never to the counts it claims, so a small packet cannot
 * buy a large amount of CPU (dns2 3.0.0's Packet.parse trusts the counts: a 17-byte packet
 * claiming 65535 questions costs it about two seconds).
 *
 * A query Konsul answers has (RFC 1035 §4.1): a full header with QR clear and opcode QUERY,
 * exactly one question whose name is made of plain labels (no compression pointers: nothing
 * precedes it to point at), no answer or authority records, and at most one additional record,
 * which must be an OPT (RFC 6891 §6.1.1), and nothing after it.
 */
import { readOpt, type Edns } from './edns.js';
import { FLAG_QR, HEADER_SIZE, MAX_LABEL_LENGTH, MAX_NAME_LENGTH, OPCODE_MASK, OPCODE_QUERY } from './wire.js';

export interface Query {
  id: number;
  /** The header's second word as sent (RD and opcode are echoed from it). */
  flags: number;
  /** Offset just past the question's root label: the name is bytes [HEADER_SIZE, nameEnd). */
  nameEnd: number;
  /** Offset just past QCLASS: the question section is bytes [HEADER_SIZE, questionEnd). */
  questionEnd: number;
  qtype: number;
  qclass: number;
  edns: Edns | null;
}

export type MalformedReason =
  'short' | 'response' | 'counts' | 'name' | 'question' | 'opt' | 'ecs' | 'trailing' | 'framing';

/** What to do with a message that is not a query Konsul answers. */
export interface Rejection {
  /** `formerr`/`notimp`: reply with that RCODE and the query's ID; `drop`: send nothing. */
  action: 'formerr' | 'notimp' | 'drop';
  /** Set when the message is malformed (counted by konsul_dns_malformed_total); null for well-formed requests Konsul does not serve. */
  reason: MalformedReason | null;
}

const SHORT: Rejection = { action: 'drop', reason: 'short' };
const RESPONSE: Rejection = { action: 'drop', reason: 'response' };
const OPCODE: Rejection = { action: 'notimp', reason: null };
const COUNTS: Rejection = { action: 'formerr', reason: 'counts' };
const NAME: Rejection = { action: 'formerr', reason: 'name' };
const QUESTION: Rejection = { action: 'formerr', reason: 'question' };
const OPT: Rejection = { action: 'formerr', reason: 'opt' };
const ECS: Rejection = { action: 'formerr', reason: 'ecs' };
const TRAILING: Rejection = { action: 'formerr', reason: 'trailing' };

export function isRejection(verdict: Query | Rejection): verdict is Rejection {
  return 'action' in verdict;
}

export function guardQuery(message: Buffer): Query | Rejection {
  const length = message.length;
  // Without a full header there is no trustworthy ID, flags or counts to answer with.
  if (length < HEADER_SIZE) return SHORT;
  const flags = message.readUInt16BE(2);
  // Answering a response would let two servers bounce packets at each other forever.
  if ((flags & FLAG_QR) !== 0) return RESPONSE;
  // RFC 1035 §4.1.1: other opcodes (IQUERY, STATUS, NOTIFY, UPDATE) are not implemented here.
  if ((flags & OPCODE_MASK) >> 11 !== OPCODE_QUERY) return OPCODE;
  const qdcount = message.readUInt16BE(4);
  const ancount = message.readUInt16BE(6);
  const nscount = message.readUInt16BE(8);
  const arcount = message.readUInt16BE(10);
  if (qdcount !== 1 || ancount !== 0 || nscount !== 0 || arcount > 1) return COUNTS;

  let offset = HEADER_SIZE;
  for (;;) {
    if (offset >= length) return NAME;
    const labelLength = message[offset];
    if (labelLength === 0) break;
    // 0xC0 is a compression pointer, 0x40/0x80 are the obsolete extended label types (RFC 6891 §5).
    if (labelLength > MAX_LABEL_LENGTH) return NAME;
    offset += 1 + labelLength;
    if (offset - HEADER_SIZE >= MAX_NAME_LENGTH) return NAME;
  }
  const nameEnd = offset + 1;
  const questionEnd = nameEnd + 4;
  if (questionEnd > length) return QUESTION;
  const qtype = message.readUInt16BE(nameEnd);
  const qclass = message.readUInt16BE(nameEnd + 2);
  // Type 0 is reserved and OPT is a pseudo-type that only lives in the additional section.
  if (qtype === 0 || qtype === 41) return QUESTION;

  let edns: Edns | null = null;
  if (arcount === 1) {
    const opt = readOpt(message, questionEnd, length);
    if (opt === 'opt') return OPT;
    if (opt === 'ecs') return ECS;
    edns = opt;
  } else if (questionEnd !== length) {
    return TRAILING;
  }
  return { id: message.readUInt16BE(0), flags, nameEnd, questionEnd, qtype, qclass, edns };
}

/**
 * EDNS(0) (RFC 6891): the OPT pseudo-record a query may carry in its additional section,
 * with the Client Subnet option (RFC 7871), and the OPT record Konsul sends back.
 */
import { formatOctets } from './address.js';
import { CLASSIC_UDP_LIMIT, QTYPE } from './wire.js';

export const EDNS_OPTION_ECS = 8;
/** What Konsul advertises it can receive (the DNS Flag Day 2020 figure, safe against fragmentation). */
export const ADVERTISED_UDP_SIZE = 1232;
/** Clients may offer up to 65535; no configuration raises UDP answers above this (IP fragmentation). */
export const MAX_UDP_PAYLOAD = 4096;
const DO_BIT = 0x8000;
/** Fixed part of an OPT RR: root name (1), type (2), class (2), TTL (4), RDLENGTH (2). */
export const OPT_FIXED_SIZE = 11;

export interface ClientSubnet {
  /** 1 = IPv4, 2 = IPv6 (address family numbers, RFC 7871 §6). */
  family: number;
  sourcePrefix: number;
  /** The address octets as sent: ceil(sourcePrefix / 8) of them. */
  octets: Buffer;
  /** The subnet address as text, or undefined when the client opted out with prefix 0 (§7.1.2). */
  address: string | undefined;
}

export interface Edns {
  /** Requestor's UDP payload size (the OPT CLASS field). */
  udpSize: number;
  version: number;
  dnssecOk: boolean;
  clientSubnet: ClientSubnet | undefined;
}

/** Why an OPT record was refused; the guard turns it into FORMERR. */
export type EdnsProblem = 'opt' | 'ecs';

/**
 * Reads the OPT RR at `offset`, which must end exactly at `end`. Returns the EDNS parameters or
 * the reason the record is malformed. Only the option Konsul uses (ECS) is decoded; RFC 6891
 * §6.1.2 says unknown options are ignored.
 */
export function readOpt(buffer: Buffer, offset: number, end: number): Edns | EdnsProblem {
  // The owner of OPT must be the root name (RFC 6891 §6.1.2).
  if (end - offset < OPT_FIXED_SIZE || buffer[offset] !== 0) return 'opt';
  if (buffer.readUInt16BE(offset + 1) !== QTYPE.OPT) return 'opt';
  const udpSize = buffer.readUInt16BE(offset + 3);
  const version = buffer[offset + 6];
  const flags = buffer.readUInt16BE(offset + 7);
  const rdlength = buffer.readUInt16BE(offset + 9);
  let cursor = offset + OPT_FIXED_SIZE;
  if (cursor + rdlength !== end) return 'opt';
  let clientSubnet: ClientSubnet | undefined;
  while (cursor < end) {
    if (end - cursor < 4) return 'opt';
    const code = buffer.readUInt16BE(cursor);
    const length = buffer.readUInt16BE(cursor + 2);
    cursor += 4;
    if (cursor + length > end) return 'opt';
    if (code === EDNS_OPTION_ECS) {
      if (clientSubnet !== undefined) return 'ecs';
      const parsed = readClientSubnet(buffer, cursor, length);
      if (parsed === undefined) return 'ecs';
      clientSubnet = parsed;
    }
    cursor += length;
  }
  return { udpSize, version, dnssecOk: (flags & DO_BIT) !== 0, clientSubnet };
}

/** RFC 7871 §6 and §7.1.1: anything inconsistent in the option is FORMERR. */
function readClientSubnet(buffer: Buffer, offset: number, length: number): ClientSubnet | undefined {
  if (length < 4) return undefined;
  const family = buffer.readUInt16BE(offset);
  const sourcePrefix = buffer[offset + 2];
  const scopePrefix = buffer[offset + 3];
  const width = family === 1 ? 4 : family === 2 ? 16 : 0;
  if (width === 0 || sourcePrefix > width * 8 || scopePrefix !== 0) return undefined;
  const significant = Math.ceil(sourcePrefix / 8);
  if (length - 4 !== significant) return undefined;
  const octets = Buffer.from(buffer.subarray(offset + 4, offset + 4 + significant));
  // Bits past SOURCE PREFIX-LENGTH must be zero (§6).
  const spare = significant * 8 - sourcePrefix;
  if (spare > 0 && (octets[significant - 1] & ((1 << spare) - 1)) !== 0) return undefined;
  const full = Buffer.alloc(width);
  octets.copy(full);
  return { family, sourcePrefix, octets, address: sourcePrefix === 0 ? undefined : formatOctets(full) };
}

/**
 * Largest UDP answer for a query: 512 without EDNS (RFC 1035 §4.2.1), else the offer clamped to
 * 512 (RFC 6891 §6.2.5) and to `answerLimit` (dns.udpAnswerLimit). That cap, 1232 by default
 * (DNS Flag Day 2020), is what keeps a spoofed 47-byte query with EDNS 4096 from drawing a
 * 4 KiB answer at its victim; the client learns of the rest through TC and asks over TCP.
 */
export function udpLimit(edns: Edns | null, answerLimit: number): number {
  if (edns === null) return CLASSIC_UDP_LIMIT;
  const offered = edns.udpSize;
  const ceiling = answerLimit < MAX_UDP_PAYLOAD ? answerLimit : MAX_UDP_PAYLOAD;
  return offered < CLASSIC_UDP_LIMIT ? CLASSIC_UDP_LIMIT : offered > ceiling ? ceiling : offered;
}

/**
 * The OPT RR of a response. `extendedRcode` is the full RCODE (the upper 8 bits go in the TTL
 * field, RFC 6891 §6.1.3). The DO bit is copied from the query (RFC 3225 §3). When the query
 * sent a Client Subnet, it is echoed with SCOPE PREFIX-LENGTH saying how much of the address the
 * answer depends on (RFC 7871 §7.2.1): 0 when the order does not depend on the client at all.
 */
export function encodeOpt(edns: Edns, extendedRcode: number, scopePrefix: number): Buffer {
  const subnet = edns.clientSubnet;
  const optionLength = subnet === undefined ? 0 : 4 + 4 + subnet.octets.length;
  const out = Buffer.alloc(OPT_FIXED_SIZE + optionLength);
  out[0] = 0;
  out.writeUInt16BE(QTYPE.OPT, 1);
  out.writeUInt16BE(ADVERTISED_UDP_SIZE, 3);
  out[5] = extendedRcode >> 4;
  out[6] = 0;
  out.writeUInt16BE(edns.dnssecOk ? DO_BIT : 0, 7);
  out.writeUInt16BE(optionLength, 9);
  if (subnet !== undefined) {
    let cursor = OPT_FIXED_SIZE;
    out.writeUInt16BE(EDNS_OPTION_ECS, cursor);
    out.writeUInt16BE(4 + subnet.octets.length, cursor + 2);
    out.writeUInt16BE(subnet.family, cursor + 4);
    out[cursor + 6] = subnet.sourcePrefix;
    out[cursor + 7] = Math.min(scopePrefix, subnet.family === 1 ? 32 : 128);
    cursor += 8;
    subnet.octets.copy(out, cursor);
  }
  return out;
}

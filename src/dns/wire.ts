/**
 * DNS wire-format constants and the few primitives the query path needs (RFC 1035 §4.1).
 * Konsul reads queries and writes answers itself instead of going through a general DNS
 * library: dns2 3.0.0's Packet.parse has no bounds checks (a 17-byte packet claiming 65535
 * records costs seconds of CPU) and a full parse/encode per query caps throughput at a
 * fraction of what the socket can carry.
 */

export const HEADER_SIZE = 12;
/** RFC 1035 §2.3.4: names are at most 255 octets on the wire, labels at most 63. */
export const MAX_NAME_LENGTH = 255;
export const MAX_LABEL_LENGTH = 63;
/** RFC 1035 §4.2.1: UDP messages without EDNS0 carry at most 512 octets. */
export const CLASSIC_UDP_LIMIT = 512;
/** RFC 1035 §4.2.2: a TCP message is prefixed by a two-octet length, so at most 65535. */
export const TCP_MESSAGE_LIMIT = 65535;

export const QTYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  MAILB: 253,
  MAILA: 254,
  ANY: 255,
} as const;

export const QCLASS = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** RFC 6891 §6.1.3: extended RCODE 16, carried as 0 in the header and 1 in OPT's upper bits. */
  BADVERS: 16,
} as const;

export const OPCODE_QUERY = 0;

/** Header flag bits in the second 16-bit word (RFC 1035 §4.1.1). */
export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const OPCODE_MASK = 0x7800;

/** Names of the qtypes metrics label individually; anything else is "other" so the label set stays bounded. */
const QTYPE_LABELS: ReadonlyMap<number, string> = new Map(Object.entries(QTYPE).map(([name, code]) => [code, name]));

export function qtypeLabel(qtype: number): string {
  return QTYPE_LABELS.get(qtype) ?? 'other';
}

const RCODE_LABELS: ReadonlyMap<number, string> = new Map(Object.entries(RCODE).map(([name, code]) => [code, name]));

export function rcodeLabel(rcode: number): string {
  return RCODE_LABELS.get(rcode) ?? String(rcode);
}

/**
 * Encodes a dotted name as uncompressed labels ending in the root label. The name must already
 * be valid (labels 1..63 octets, total ≤ 255): callers pass names Konsul itself built.
 */
export function encodeName(name: string): Buffer {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  const labels = trimmed === '' ? [] : trimmed.split('.');
  let length = 1;
  for (const label of labels) length += 1 + Buffer.byteLength(label, 'latin1');
  if (length > MAX_NAME_LENGTH) throw new RangeError(`DNS name "${name}" is longer than ${MAX_NAME_LENGTH} octets`);
  const out = Buffer.alloc(length);
  let offset = 0;
  for (const label of labels) {
    const size = Buffer.byteLength(label, 'latin1');
    if (size === 0 || size > MAX_LABEL_LENGTH)
      throw new RangeError(`DNS label "${label}" in "${name}" must be 1 to ${MAX_LABEL_LENGTH} octets`);
    out[offset++] = size;
    offset += out.write(label, offset, 'latin1');
  }
  out[offset] = 0;
  return out;
}

/**
 * The labels of an uncompressed name at [start, end), ASCII-lower-cased (RFC 4343: DNS
 * comparisons are case-insensitive for A–Z only). The guard has already checked the bounds.
 */
export function decodeLabels(buffer: Buffer, start: number, end: number): string[] {
  const labels: string[] = [];
  let offset = start;
  while (offset < end) {
    const length = buffer[offset];
    if (length === 0) break;
    labels.push(lowerAscii(buffer.toString('latin1', offset + 1, offset + 1 + length)));
    offset += 1 + length;
  }
  return labels;
}

/**
 * The wire form of the name at [start, end) with A–Z folded to a–z, as a string: a cheap map
 * key that identifies the name case-insensitively without splitting it into labels.
 */
export function nameKey(buffer: Buffer, start: number, end: number): string {
  let upper = false;
  for (let offset = start; offset < end; offset++) {
    const byte = buffer[offset];
    if (byte >= 0x41 && byte <= 0x5a) {
      upper = true;
      break;
    }
  }
  const raw = buffer.toString('latin1', start, end);
  return upper ? lowerAscii(raw) : raw;
}

function lowerAscii(text: string): string {
  // String#toLowerCase would also fold Latin-1 letters such as "À", which DNS treats as distinct.
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x41 && code <= 0x5a) {
      out += text.slice(from, i) + String.fromCharCode(code + 0x20);
      from = i + 1;
    }
  }
  return from === 0 ? text : out + text.slice(from);
}

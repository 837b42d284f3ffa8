/**
 * IP addresses as DNS sees them: the octets of A/AAAA RDATA and the hex labels of
 * `<hex>.addr.<domain>` names. node:net validates addresses but has no parser to octets.
 */
import { isIP } from 'node:net';

/** The 4 or 16 octets of an IP address, or undefined when `address` is not one. */
export function addressOctets(address: string): Buffer | undefined {
  const family = isIP(address);
  if (family === 4) return ipv4Octets(address);
  if (family === 6) return ipv6Octets(address);
  return undefined;
}

function ipv4Octets(address: string): Buffer {
  const out = Buffer.alloc(4);
  const parts = address.split('.');
  for (let i = 0; i < 4; i++) out[i] = Number(parts[i]);
  return out;
}

function ipv6Octets(address: string): Buffer {
  // isIP has accepted it, so only the shapes RFC 4291 §2.2 allows reach here.
  const zone = address.indexOf('%');
  let text = zone === -1 ? address : address.slice(0, zone);
  const words: number[] = [];
  const tailWords: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const embedded = text.indexOf('.', lastColon) === -1 ? undefined : ipv4Octets(text.slice(lastColon + 1));
  if (embedded !== undefined) text = text.slice(0, lastColon + 1) + '0:0';
  const gap = text.indexOf('::');
  const head = gap === -1 ? text : text.slice(0, gap);
  const tail = gap === -1 ? '' : text.slice(gap + 2);
  for (const part of head === '' ? [] : head.split(':')) words.push(parseInt(part, 16));
  for (const part of tail === '' ? [] : tail.split(':')) tailWords.push(parseInt(part, 16));
  while (words.length + tailWords.length < 8) words.push(0);
  words.push(...tailWords);
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(words[i], i * 2);
  if (embedded !== undefined) embedded.copy(out, 12);
  return out;
}

/** The text form of 4 or 16 octets (IPv6 uncompressed, which every parser accepts). */
export function formatOctets(octets: Buffer): string {
  if (octets.length === 4) return `${octets[0]}.${octets[1]}.${octets[2]}.${octets[3]}`;
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(octets.readUInt16BE(i).toString(16));
  return words.join(':');
}

/** `10.0.0.1` → `0a000001`: the label Konsul uses for SRV targets (as Consul's `.addr.` names do). */
export function addressLabel(octets: Buffer): string {
  return octets.toString('hex');
}

const HEX_LABEL = /^(?:[0-9a-f]{8}|[0-9a-f]{32})$/;

/** The octets a `<hex>.addr.<domain>` label stands for: 8 hex digits for IPv4, 32 for IPv6. */
export function parseAddressLabel(label: string): Buffer | undefined {
  return HEX_LABEL.test(label) ? Buffer.from(label, 'hex') : undefined;
}

/**
 * The octets a peer's address stands for, with an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`,
 * what a dual-stack `::` socket reports for IPv4 peers, RFC 4291 §2.5.5.2) turned back into its
 * 4 IPv4 octets so that IPv4 networks and limits apply to it.
 */
export function peerOctets(address: string): Buffer | undefined {
  const octets = addressOctets(address);
  if (octets === undefined || octets.length === 4) return octets;
  for (let i = 0; i < 10; i++) if (octets[i] !== 0) return octets;
  return octets[10] === 0xff && octets[11] === 0xff ? octets.subarray(12) : octets;
}

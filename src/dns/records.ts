/**
 * Resource records as byte strings (RFC 1035 §3.2.1, §4.1.3), built once per membership version
 * and then only copied. Answer records use a compression pointer to the question name
 * (RFC 1035 §4.1.4): every response starts with the 12-byte header and the question echoed
 * byte for byte, so the name always sits at offset 12 whatever the query spelled, and one
 * encoded record serves `web.service.konsul`, `WEB.Service.Konsul` and `_web._tcp.service.konsul`
 * alike, preserving the client's case (which 0x20-randomizing resolvers check).
 */
import { QCLASS, QTYPE, encodeName } from './wire.js';

/** A name that is "the question's name": a pointer to offset 12. */
export const QUESTION_NAME: Buffer = Buffer.from([0xc0, 0x0c]);

/** Fixed part after the owner name: TYPE (2), CLASS (2), TTL (4), RDLENGTH (2). */
const RR_FIXED_SIZE = 10;

export function encodeRecord(owner: Buffer, type: number, ttl: number, rdata: Buffer): Buffer {
  const out = Buffer.alloc(owner.length + RR_FIXED_SIZE + rdata.length);
  owner.copy(out, 0);
  let offset = owner.length;
  out.writeUInt16BE(type, offset);
  out.writeUInt16BE(QCLASS.IN, offset + 2);
  out.writeUInt32BE(ttl, offset + 4);
  out.writeUInt16BE(rdata.length, offset + 8);
  offset += RR_FIXED_SIZE;
  rdata.copy(out, offset);
  return out;
}

/** An A record for 4 octets or an AAAA record for 16. */
export function addressRecord(owner: Buffer, ttl: number, octets: Buffer): Buffer {
  return encodeRecord(owner, octets.length === 4 ? QTYPE.A : QTYPE.AAAA, ttl, octets);
}

export function cnameRecord(owner: Buffer, ttl: number, target: string): Buffer {
  return encodeRecord(owner, QTYPE.CNAME, ttl, encodeName(target));
}

export function nsRecord(owner: Buffer, ttl: number, host: string): Buffer {
  return encodeRecord(owner, QTYPE.NS, ttl, encodeName(host));
}

/** RFC 2782: priority, weight, port, then the target name, which must not be compressed. */
export function srvRecord(
  owner: Buffer,
  ttl: number,
  priority: number,
  weight: number,
  port: number,
  target: string,
): Buffer {
  const name = encodeName(target);
  const rdata = Buffer.alloc(6 + name.length);
  rdata.writeUInt16BE(priority, 0);
  rdata.writeUInt16BE(clampUint16(weight), 2);
  rdata.writeUInt16BE(port, 4);
  name.copy(rdata, 6);
  return encodeRecord(owner, QTYPE.SRV, ttl, rdata);
}

export interface SoaFields {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  /** RFC 2308 §4: the TTL of negative answers is min(SOA TTL, MINIMUM). */
  minimum: number;
}

export function soaRecord(owner: Buffer, ttl: number, soa: SoaFields): Buffer {
  const mname = encodeName(soa.mname);
  const rname = encodeName(soa.rname);
  const rdata = Buffer.alloc(mname.length + rname.length + 20);
  mname.copy(rdata, 0);
  rname.copy(rdata, mname.length);
  let offset = mname.length + rname.length;
  // RFC 1982 serial arithmetic is modulo 2^32.
  for (const value of [soa.serial % 2 ** 32, soa.refresh, soa.retry, soa.expire, soa.minimum]) {
    rdata.writeUInt32BE(value, offset);
    offset += 4;
  }
  return encodeRecord(owner, QTYPE.SOA, ttl, rdata);
}

function clampUint16(value: number): number {
  if (!Number.isFinite(value) || value < 0) return 0;
  return value > 0xffff ? 0xffff : Math.floor(value);
}

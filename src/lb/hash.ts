/**
 * A fast, non-cryptographic 64-bit string hash for placing instances and keys on
 * rings and Maglev tables.
 *
 * FNV-1a 64 (Fowler/Noll/Vo, draft-eastlake-fnv) over the key's UTF-8 bytes, then
 * MurmurHash3's fmix64 finaliser (Appleby, smhasher). FNV-1a alone mixes short,
 * similar strings ("web-1_0", "web-1_1") poorly in its high bits; fmix64 gives full
 * avalanche, which the ring and Maglev placement need.
 *
 * The 64-bit state is carried as two 32-bit halves (hi, lo) in int32 arithmetic:
 * BigInt is far slower in V8 and allocates per operation. The FNV prime
 * 0x100000001b3 is 2^40 + 0x1b3, so its multiply is one small multiply plus a shift;
 * fmix64's 64x64 multiply takes the high word of lo·lo' from 16-bit partial products.
 */

const FNV_OFFSET_HI = 0xcbf29ce4;
const FNV_OFFSET_LO = 0x84222325;
const FNV_PRIME_LOW = 0x1b3;
const TWO_POW_21 = 2097152;

// Results of the last call, read right after it: a module-level pair keeps the hot path
// free of allocation (JavaScript runs one order() at a time). A typed array, because
// 32-bit values in `let` bindings would be boxed as heap numbers on every write.
const out = new Uint32Array(2);
const HI = 0;
const LO = 1;

/**
 * FNV-1a 64 of the UTF-8 bytes of `key`, with `seed` xored into the offset basis, continuing
 * from (hi, lo). Writes out[HI]/out[LO].
 *
 * Every intermediate stays a 32-bit integer (the product by 0x1b3 is split into 16-bit
 * halves) so V8 keeps the loop in int32 registers instead of doubles.
 */
function fnv1a64(key: string, startHi: number, startLo: number): void {
  let hi = startHi | 0;
  let lo = startLo | 0;
  const length = key.length;
  for (let i = 0; i < length; i++) {
    let code = key.charCodeAt(i);
    let bytes = code;
    let count = 1;
    if (code >= 0x80) {
      // Encode to UTF-8 on the fly so the hash equals FNV-1a of the UTF-8 bytes.
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < length) {
        const low = key.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          i++;
        }
      }
      if (code < 0x800) {
        bytes = ((0xc0 | (code >>> 6)) << 8) | (0x80 | (code & 0x3f));
        count = 2;
      } else if (code < 0x10000) {
        bytes = ((0xe0 | (code >>> 12)) << 16) | ((0x80 | ((code >>> 6) & 0x3f)) << 8) | (0x80 | (code & 0x3f));
        count = 3;
      } else {
        bytes =
          ((0xf0 | (code >>> 18)) << 24) |
          ((0x80 | ((code >>> 12) & 0x3f)) << 16) |
          ((0x80 | ((code >>> 6) & 0x3f)) << 8) |
          (0x80 | (code & 0x3f));
        count = 4;
      }
    }
    for (let b = (count - 1) * 8; b >= 0; b -= 8) {
      lo ^= (bytes >>> b) & 0xff;
      // (hi:lo) * (2^40 + 0x1b3) mod 2^64
      const low16 = (lo & 0xffff) * FNV_PRIME_LOW;
      const high16 = (lo >>> 16) * FNV_PRIME_LOW + (low16 >>> 16);
      hi = (Math.imul(hi, FNV_PRIME_LOW) + (high16 >>> 16) + (lo << 8)) | 0;
      lo = (high16 << 16) | (low16 & 0xffff);
    }
  }
  out[HI] = hi;
  out[LO] = lo;
}

/** High 32 bits of the unsigned 64-bit product a·b, from 16-bit partial products (int32 ops only). */
function multiplyHigh(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const low = Math.imul(a0, b0) >>> 16;
  const cross0 = Math.imul(a0, b1);
  const cross1 = Math.imul(a1, b0);
  const middle = low + (cross0 & 0xffff) + (cross1 & 0xffff);
  return (Math.imul(a1, b1) + (cross0 >>> 16) + (cross1 >>> 16) + (middle >>> 16)) | 0;
}

/**
 * MurmurHash3 fmix64 on out[HI]/out[LO], in place:
 * k ^= k >> 33; k *= 0xff51afd7ed558ccd; k ^= k >> 33; k *= 0xc4ceb9fe1a85ec53; k ^= k >> 33.
 * k >> 33 is the high word shifted right by one; a 64-bit product mod 2^64 is
 * lo·lo (full) + (hi·lo' + lo·hi') << 32.
 */
function fmix64(): void {
  let hi = out[HI] | 0;
  let lo = out[LO] | 0;
  lo ^= hi >>> 1;
  let high = (multiplyHigh(lo, 0xed558ccd) + Math.imul(hi, 0xed558ccd) + Math.imul(lo, 0xff51afd7)) | 0;
  lo = Math.imul(lo, 0xed558ccd);
  hi = high;
  lo ^= hi >>> 1;
  high = (multiplyHigh(lo, 0x1a85ec53) + Math.imul(hi, 0x1a85ec53) + Math.imul(lo, 0xc4ceb9fe)) | 0;
  lo = Math.imul(lo, 0x1a85ec53);
  hi = high;
  lo ^= hi >>> 1;
  out[HI] = hi;
  out[LO] = lo;
}

/** fmix64 of the FNV state in out[], reduced to its top 53 bits. */
function mixedTop53(): number {
  fmix64();
  return out[HI] * TWO_POW_21 + (out[LO] >>> 11);
}

/**
 * The 64-bit hash of `key` reduced to its top 53 bits, as a non-negative integer
 * below 2^53 (exact in a double, comparable with `<`, usable with `%`).
 * `seed` picks an independent hash family (Maglev needs two per instance).
 */
export function hash53(key: string, seed = 0): number {
  fnv1a64(key, FNV_OFFSET_HI, FNV_OFFSET_LO ^ seed);
  return mixedTop53();
}

/**
 * hash53(prefix + String(suffix)) for a non-negative integer suffix, continuing from the
 * FNV state of a prefix captured once with {@link prefixState}: ring builds hash
 * "<id>_0", "<id>_1", … without building or re-reading the strings.
 */
export function hash53WithSuffix(prefix: PrefixState, suffix: number): number {
  suffixState(prefix, suffix);
  return mixedTop53();
}

/**
 * into[at + k] = hash53WithSuffix(prefix, first + k) for k < count. A ring build hashes
 * tens of thousands of points: returned one at a time, each 53-bit result is a double that
 * V8 boxes as a heap number (about 1 MB of garbage per 65,536 points); stored straight into
 * the typed array it is never boxed.
 */
export function hash53WithSuffixes(
  prefix: PrefixState,
  first: number,
  count: number,
  into: Float64Array,
  at: number,
): void {
  for (let k = 0; k < count; k++) {
    suffixState(prefix, first + k);
    into[at + k] = mixedTop53();
  }
}

/** The FNV-1a state after prefix + String(suffix), into out[]. */
function suffixState(prefix: PrefixState, suffix: number): void {
  let hi = prefix.hi | 0;
  let lo = prefix.lo | 0;
  let divisor = 1;
  while (divisor * 10 <= suffix) divisor *= 10;
  for (; divisor >= 1; divisor /= 10) {
    lo ^= 48 + (Math.floor(suffix / divisor) % 10);
    const low16 = (lo & 0xffff) * FNV_PRIME_LOW;
    const high16 = (lo >>> 16) * FNV_PRIME_LOW + (low16 >>> 16);
    hi = (Math.imul(hi, FNV_PRIME_LOW) + (high16 >>> 16) + (lo << 8)) | 0;
    lo = (high16 << 16) | (low16 & 0xffff);
  }
  out[HI] = hi;
  out[LO] = lo;
}

export interface PrefixState {
  readonly hi: number;
  readonly lo: number;
}

/** The FNV-1a state after `prefix`, for {@link hash53WithSuffix}. */
export function prefixState(prefix: string, seed = 0): PrefixState {
  fnv1a64(prefix, FNV_OFFSET_HI, FNV_OFFSET_LO ^ seed);
  return { hi: out[HI], lo: out[LO] };
}

/** The full 64-bit hash as `[hi, lo]` unsigned 32-bit words. For tests and tools, not hot paths. */
export function hash64(key: string, seed = 0): [hi: number, lo: number] {
  fnv1a64(key, FNV_OFFSET_HI, FNV_OFFSET_LO ^ seed);
  fmix64();
  return [out[HI], out[LO]];
}

/** Plain FNV-1a 64 as `[hi, lo]`, without the finaliser; exposed so tests can check the published vectors. */
export function fnv1a64Words(key: string, seed = 0): [hi: number, lo: number] {
  fnv1a64(key, FNV_OFFSET_HI, FNV_OFFSET_LO ^ seed);
  return [out[HI], out[LO]];
}

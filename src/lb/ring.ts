/**
 * The consistent-hash ring shared by ring-hash and ip-hash (Karger et al., STOC 1997;
 * the shape follows Envoy's RingHashLoadBalancer::Ring).
 *
 * Each instance with weight w gets w × pointsPerWeight points, all scaled up together
 * so that the lightest instance has at least MIN_POINTS_PER_INSTANCE points and the
 * ring at least config.ringHash.minRingSize; scaling all of them keeps shares
 * proportional to weight. Point j of an instance sits at hash("<id>_<j>"), so its points
 * never depend on list position: removing an instance removes only its points and moves
 * only the keys that landed on them.
 *
 * The scale is rounded up to a power of two. Envoy scales by the exact ratio, so every
 * membership change of a small service (total below minRingSize) changes every
 * instance's point count and moves keys between surviving instances. Rounded, the scale
 * only changes when the service crosses a power-of-two boundary of
 * minRingSize / (Σweight × pointsPerWeight) — with the defaults, at 10/11, 5/6 and 2/3
 * instances of weight 1 — and a larger scale only adds points (points 0..c-1 stay put).
 *
 * The ring never exceeds config.ringHash.maxRingSize points (or one point per instance
 * when there are more instances than that): heavy weights then scale down, again by a
 * power of two, so weights set the shares and never the memory or the build time.
 */
import { hash53WithSuffixes, prefixState, type PrefixState } from './hash.js';
import type { Membership } from './membership.js';
import { ScratchBuffer } from './scratch.js';
import { runToEnd, type BuildTask } from './table-builder.js';
import type { LbConfig, TableSlot } from './types.js';
import { ownerTable, type OwnerTable } from './walk.js';

/** With ~100 points an instance's share of the ring is within about ±10 % of its weight (1/√points). */
export const MIN_POINTS_PER_INSTANCE = 100;
/** Default of config.ringHash.maxRingSize: 640 KiB, and 10–20 ms of build work done in slices. */
export const DEFAULT_MAX_RING_SIZE = 65_536;
/** Upper bound of config.ringHash.maxRingSize (Envoy's default maximum_ring_size). */
export const MAX_RING_SIZE = 8_388_608;
/** A point costs about this many work units to hash, against one per point for each sorting pass. */
const HASH_COST = 4;
/** Work units per point over the whole build: hashing plus three light passes and the owner copy. */
export const RING_WORK_PER_POINT = HASH_COST + 4;

export interface HashRing {
  /**
   * Sorted ring positions. Each is the point's 53-bit hash with its low `ownerBits` bits
   * replaced by the owner index: sorting orders points and owners together, and two
   * points that collide on the remaining bits keep member order (members are sorted by id).
   */
  readonly points: Float64Array;
  /** owners[j] = member index of the instance that owns points[j]. */
  readonly owners: OwnerTable;
  /** 2^ownerBits. */
  readonly bucket: number;
}

export function pointsPerInstance(
  weights: Float64Array,
  pointsPerWeight: number,
  minRingSize: number,
  maxRingSize: number = DEFAULT_MAX_RING_SIZE,
): Uint32Array {
  const counts = new Uint32Array(weights.length);
  let smallest = Infinity;
  let sum = 0;
  for (const weight of weights) {
    if (weight <= 0) continue;
    const base = weight * pointsPerWeight;
    if (base < smallest) smallest = base;
    sum += base;
  }
  if (sum === 0) return counts;
  const needed = Math.max(1, MIN_POINTS_PER_INSTANCE / smallest, minRingSize / sum);
  let scale = 2 ** Math.ceil(Math.log2(needed) - 1e-9);
  if (scale < needed) scale *= 2;
  if (sum * scale > maxRingSize) {
    // Down to the largest power of two that fits, for the same stability as above.
    scale = 2 ** Math.floor(Math.log2(maxRingSize / sum) + 1e-9);
    if (sum * scale > maxRingSize) scale /= 2;
  }
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] > 0) counts[i] = Math.max(1, Math.round(weights[i] * pointsPerWeight * scale));
  }
  return counts;
}

/** Ring points for a membership, without building anything: what a build will cost. */
export function ringSize(weights: Float64Array, config: LbConfig['ringHash']): number {
  let total = 0;
  for (const count of pointsPerInstance(weights, config.pointsPerWeight, config.minRingSize, config.maxRingSize))
    total += count;
  return total;
}

/**
 * The ring, built in resumable steps (see table-builder.ts). The sort is a counting sort
 * on the top bits of the positions (they are uniform hashes, so buckets hold a point or
 * two), then a sort inside each bucket: every pass can stop and resume between points.
 */
export class RingBuild implements BuildTask<HashRing> {
  result: HashRing | undefined = undefined;
  private readonly counts: Uint32Array;
  private readonly total: number;
  private readonly bucket: number;
  private readonly scratch: ScratchBuffer;
  /** Work memory from `scratch`: the unsorted points, then the bucket starts and fill positions. */
  private readonly work0: ArrayBuffer;
  private readonly unsorted: Float64Array;
  private readonly starts: Uint32Array;
  private readonly fill: Uint32Array;
  private readonly radixBuckets: number;
  private readonly divisor: number;
  private phase = 0;
  private owner = 0;
  private point = 0;
  private next = 0;
  private prefix: PrefixState | undefined = undefined;
  private points: Float64Array | undefined = undefined;
  private owners: OwnerTable | undefined = undefined;

  constructor(
    private readonly ids: readonly string[],
    weights: Float64Array,
    pointsPerWeight: number,
    minRingSize: number,
    maxRingSize: number,
    scratch: ScratchBuffer = new ScratchBuffer(0),
  ) {
    this.counts = pointsPerInstance(weights, pointsPerWeight, minRingSize, maxRingSize);
    let total = 0;
    for (const count of this.counts) total += count;
    this.total = total;
    let ownerBits = 1;
    while (2 ** ownerBits < ids.length) ownerBits++;
    this.bucket = 2 ** ownerBits;
    const radixBits = Math.min(16, Math.max(1, Math.ceil(Math.log2(total + 1))));
    this.radixBuckets = 2 ** radixBits;
    this.divisor = 2 ** (53 - radixBits);
    this.scratch = scratch;
    const pointBytes = total * Float64Array.BYTES_PER_ELEMENT;
    const startsBytes = (this.radixBuckets + 1) * Uint32Array.BYTES_PER_ELEMENT;
    this.work0 = scratch.take(pointBytes + startsBytes + this.radixBuckets * Uint32Array.BYTES_PER_ELEMENT);
    this.unsorted = new Float64Array(this.work0, 0, total);
    this.starts = new Uint32Array(this.work0, pointBytes, this.radixBuckets + 1);
    this.fill = new Uint32Array(this.work0, pointBytes + startsBytes, this.radixBuckets);
  }

  work(budget: number): number {
    let spent = 0;
    while (spent < budget && this.result === undefined) {
      const left = budget - spent;
      if (this.phase === 0) spent += this.hashPoints(left);
      else if (this.phase === 1) spent += this.countBuckets(left);
      else if (this.phase === 2) spent += this.place(left);
      else if (this.phase === 3) spent += this.sortBuckets(left);
      else spent += this.fillOwners(left);
    }
    return spent;
  }

  /** Point j of an instance = hash53("<id>_<j>"), low bits replaced by the owner index. */
  private hashPoints(budget: number): number {
    const ids = this.ids;
    const counts = this.counts;
    const unsorted = this.unsorted;
    const bucket = this.bucket;
    const quota = Math.ceil(budget / HASH_COST);
    let done = 0;
    let owner = this.owner;
    let point = this.point;
    let next = this.next;
    let prefix = this.prefix;
    while (owner < ids.length && done < quota) {
      const count = counts[owner];
      if (point >= count) {
        owner++;
        point = 0;
        prefix = undefined;
        continue;
      }
      prefix ??= prefixState(`${ids[owner]}_`);
      const end = Math.min(count, point + quota - done);
      done += end - point;
      hash53WithSuffixes(prefix, point, end - point, unsorted, next);
      for (; point < end; point++, next++) unsorted[next] = Math.floor(unsorted[next] / bucket) * bucket + owner;
    }
    this.owner = owner;
    this.point = point;
    this.next = next;
    this.prefix = prefix;
    if (owner >= ids.length) {
      this.phase = 1;
      this.next = 0;
      // Lent memory holds the last build's counts: ≤ 65,537 stores, within TASK_OVERSHOOT's reach.
      this.starts.fill(0);
    }
    return done * HASH_COST;
  }

  private countBuckets(budget: number): number {
    const starts = this.starts;
    const unsorted = this.unsorted;
    const divisor = this.divisor;
    const end = Math.min(this.total, this.next + Math.ceil(budget));
    const begin = this.next;
    for (let i = begin; i < end; i++) starts[Math.floor(unsorted[i] / divisor) + 1]++;
    this.next = end;
    if (end < this.total) return end - begin;
    for (let b = 0; b < this.radixBuckets; b++) starts[b + 1] += starts[b];
    this.fill.set(starts.subarray(0, this.radixBuckets));
    this.points = new Float64Array(this.total);
    this.phase = 2;
    this.next = 0;
    // ≤ 65,536 additions and a copy: a few tens of microseconds, within TASK_OVERSHOOT.
    return end - begin + (this.radixBuckets >>> 6);
  }

  private place(budget: number): number {
    const fill = this.fill;
    const points = this.points!;
    const unsorted = this.unsorted;
    const divisor = this.divisor;
    const begin = this.next;
    const end = Math.min(this.total, begin + Math.ceil(budget));
    for (let i = begin; i < end; i++) {
      const value = unsorted[i];
      points[fill[Math.floor(value / divisor)]++] = value;
    }
    this.next = end;
    if (end === this.total) {
      this.phase = 3;
      this.next = 0;
    }
    return end - begin;
  }

  private sortBuckets(budget: number): number {
    const starts = this.starts;
    const points = this.points!;
    let spent = 0;
    let b = this.next;
    for (; b < this.radixBuckets && spent < budget; b++) {
      const start = starts[b];
      const end = starts[b + 1];
      if (end - start > 1) sortRange(points, start, end);
      spent += end - start + 1;
    }
    this.next = b;
    if (b === this.radixBuckets) {
      this.phase = 4;
      this.next = 0;
      this.scratch.give(this.work0);
      this.owners = ownerTable(this.total, this.ids.length);
    }
    return spent;
  }

  private fillOwners(budget: number): number {
    const points = this.points!;
    const owners = this.owners!;
    const bucket = this.bucket;
    const begin = this.next;
    const end = Math.min(this.total, begin + Math.ceil(budget));
    for (let j = begin; j < end; j++) owners[j] = points[j] % bucket;
    this.next = end;
    if (end === this.total) this.result = { points, owners, bucket };
    return end - begin;
  }
}

/** Insertion sort for the usual one or two points, the native sort for a crowded bucket. */
function sortRange(points: Float64Array, start: number, end: number): void {
  if (end - start > 16) {
    points.subarray(start, end).sort();
    return;
  }
  for (let i = start + 1; i < end; i++) {
    const value = points[i];
    let j = i;
    while (j > start && points[j - 1] > value) {
      points[j] = points[j - 1];
      j--;
    }
    points[j] = value;
  }
}

/** The whole ring at once, for tests and tools; the manager builds through RING in slices. */
export function buildRing(
  instances: readonly { id: string }[],
  weights: Float64Array,
  pointsPerWeight: number,
  minRingSize: number,
  maxRingSize: number = DEFAULT_MAX_RING_SIZE,
): HashRing {
  const ids = instances.map((instance) => instance.id);
  return runToEnd(new RingBuild(ids, weights, pointsPerWeight, minRingSize, maxRingSize));
}

/** Index of the first point at or after `keyHash` (clockwise), wrapping to 0 past the end. */
export function ringSlot(ring: HashRing, keyHash: number): number {
  const points = ring.points;
  const target = Math.floor(keyHash / ring.bucket) * ring.bucket;
  let low = 0;
  let high = points.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (points[middle] < target) low = middle + 1;
    else high = middle;
  }
  return low === points.length ? 0 : low;
}

export const RING: TableSlot<HashRing> = {
  name: 'ring',
  estimate: (membership: Membership, config: LbConfig) =>
    ringSize(membership.weights, config.ringHash) * RING_WORK_PER_POINT,
  build: (membership: Membership, config: LbConfig, scratch: ScratchBuffer) =>
    new RingBuild(
      membership.ids,
      membership.weights,
      config.ringHash.pointsPerWeight,
      config.ringHash.minRingSize,
      config.ringHash.maxRingSize,
      scratch,
    ),
  bytes: (ring: HashRing) => ring.points.byteLength + ring.owners.byteLength,
};

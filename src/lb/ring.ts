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
 */
import type { Instance } from '../catalog/types.js';
import { hash53WithSuffix, prefixState } from './hash.js';
import type { StateSlot } from './types.js';
import { ownerTable, type OwnerTable } from './walk.js';
import { WEIGHTS } from './weights.js';

/** With ~100 points an instance's share of the ring is within about ±10 % of its weight (1/√points). */
export const MIN_POINTS_PER_INSTANCE = 100;
/** Envoy's default maximum_ring_size: beyond this, build time and memory stop paying off. */
export const MAX_RING_SIZE = 8_388_608;

export interface HashRing {
  /**
   * Sorted ring positions. Each is the point's 53-bit hash with its low `ownerBits` bits
   * replaced by the owner index: one native Float64Array sort then orders points and owners
   * together, and two points that collide on the remaining bits keep id order (lists are sorted by id).
   */
  readonly points: Float64Array;
  /** owners[j] = index of the instance that owns points[j]. */
  readonly owners: OwnerTable;
  /** 2^ownerBits. */
  readonly bucket: number;
}

export function pointsPerInstance(weights: Float64Array, pointsPerWeight: number, minRingSize: number): Uint32Array {
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
  if (sum * scale > MAX_RING_SIZE) scale = MAX_RING_SIZE / sum;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] > 0) counts[i] = Math.max(1, Math.round(weights[i] * pointsPerWeight * scale));
  }
  return counts;
}

export function buildRing(
  instances: readonly Instance[],
  weights: Float64Array,
  pointsPerWeight: number,
  minRingSize: number,
): HashRing {
  const counts = pointsPerInstance(weights, pointsPerWeight, minRingSize);
  let total = 0;
  for (const count of counts) total += count;
  let ownerBits = 1;
  while (2 ** ownerBits < instances.length) ownerBits++;
  const bucket = 2 ** ownerBits;
  const points = new Float64Array(total);
  let next = 0;
  for (let owner = 0; owner < instances.length; owner++) {
    const prefix = prefixState(`${instances[owner].id}_`);
    for (let j = 0; j < counts[owner]; j++) {
      // = hash53(`${id}_${j}`)
      points[next++] = Math.floor(hash53WithSuffix(prefix, j) / bucket) * bucket + owner;
    }
  }
  points.sort();
  const owners = ownerTable(total, instances.length);
  for (let j = 0; j < total; j++) owners[j] = points[j] % bucket;
  return { points, owners, bucket };
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

export const RING: StateSlot<HashRing> = {
  name: 'ring',
  build: (instances, ctx) =>
    buildRing(
      instances,
      ctx.state(WEIGHTS).values,
      ctx.config.ringHash.pointsPerWeight,
      ctx.config.ringHash.minRingSize,
    ),
};

/**
 * Weighted rendezvous (highest random weight) hashing: Thaler & Ravishankar, "Using
 * name-based mappings to increase hit rates", IEEE/ACM ToN 1998, with the logarithmic
 * weighting of Schindelhauer & Schomaker ("Weighted distributed hash tables", SPAA 2005):
 * each instance scores -ln(u)/w for a uniform u drawn from hash(key, id), lowest first.
 * An instance is first with probability w/Σw, and removing one moves only its own keys.
 *
 * The hash strategies answer with it while a service's first table is being built: it
 * needs no table, costs O(n) per query, and is consistent in its own right.
 */
import type { Instance } from '../catalog/types.js';
import type { Membership } from './membership.js';
import { Ranker } from './ranking.js';

const TWO_POW_32 = 4294967296;

export class RendezvousOrder {
  private readonly ranker = new Ranker();

  /** `toMember[i]` is the member index of instances[i] in `membership` (-1: absent, ordered last). */
  order(
    instances: readonly Instance[],
    toMember: Int32Array,
    membership: Membership,
    keyHash: number,
    limit: number,
  ): Instance[] {
    const n = instances.length;
    const ranker = this.ranker;
    ranker.prepare(n);
    const primary = ranker.primary;
    const secondary = ranker.secondary;
    const weights = membership.weights;
    const idHashes = membership.idHashes;
    const keyLow = keyHash >>> 0;
    const keyHigh = (keyHash / TWO_POW_32) | 0;
    for (let i = 0; i < n; i++) {
      const member = toMember[i];
      const weight = member < 0 ? 0 : weights[member];
      const idHash = member < 0 ? 0 : idHashes[member];
      const u = unitInterval(keyLow ^ (idHash >>> 0), keyHigh ^ ((idHash / TWO_POW_32) | 0));
      primary[i] = weight > 0 ? -Math.log(u) / weight : Infinity;
      secondary[i] = 0;
    }
    const order = ranker.rank(n, limit);
    const out = new Array<Instance>(order.length);
    for (let position = 0; position < order.length; position++) out[position] = instances[order[position]];
    return out;
  }
}

/** MurmurHash3's fmix32 over both words, mapped into (0, 1). */
function unitInterval(low: number, high: number): number {
  let h = Math.imul(high ^ (high >>> 16), 0x85ebca6b) ^ low;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return ((h >>> 0) + 0.5) / TWO_POW_32;
}

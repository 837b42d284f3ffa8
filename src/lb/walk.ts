/**
 * Collects distinct owners while walking a ring or table clockwise from a start slot:
 * the fallback order of the hash strategies. Slot i+1 is the next point on a ring
 * (Karger et al.'s successor) or the next Maglev slot, so the order a key sees depends
 * only on the structure and the key, and is as stable as the structure itself.
 */
import type { Instance } from '../catalog/types.js';

export type OwnerTable = Uint16Array | Uint32Array;

export class DistinctWalker {
  private seen = new Uint32Array(0);
  private stamp = 0;

  /**
   * The first `limit` distinct instances met from `start`. Slots hold member indices;
   * `toSelected` maps them to positions in `instances`, and members that map to -1
   * (filtered out, unhealthy, or gone since the table was built) are passed over, so their
   * keys fall to the next eligible owner and nobody else's move. Instances that own no slot
   * (weight 0, more instances than slots, or newer than the table) follow in list order
   * after a full lap.
   */
  walk(
    owners: ArrayLike<number>,
    start: number,
    toSelected: Int32Array,
    instances: readonly Instance[],
    limit: number,
  ): Instance[] {
    const n = instances.length;
    if (this.seen.length < n) {
      this.seen = new Uint32Array(Math.max(n, this.seen.length * 2));
      this.stamp = 0;
    }
    if (++this.stamp === 0xffffffff) {
      this.seen.fill(0);
      this.stamp = 1;
    }
    const seen = this.seen;
    const stamp = this.stamp;
    const out: Instance[] = [];
    const size = owners.length;
    let slot = start;
    for (let steps = 0; steps < size && out.length < limit; steps++) {
      const position = toSelected[owners[slot]];
      if (position >= 0 && seen[position] !== stamp) {
        seen[position] = stamp;
        out.push(instances[position]);
      }
      if (++slot === size) slot = 0;
    }
    for (let i = 0; i < n && out.length < limit; i++) if (seen[i] !== stamp) out.push(instances[i]);
    return out;
  }
}

/** Owner indices in the narrowest typed array that holds them. */
export function ownerTable(size: number, instances: number): OwnerTable {
  return instances <= 0xffff ? new Uint16Array(size) : new Uint32Array(size);
}

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
   * The first `limit` distinct instances met from `start`. Instances that own no slot
   * (weight 0, or more instances than slots) follow in list order after a full lap.
   */
  walk(owners: OwnerTable, start: number, instances: readonly Instance[], limit: number): Instance[] {
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
      const owner = owners[slot];
      if (seen[owner] !== stamp) {
        seen[owner] = stamp;
        out.push(instances[owner]);
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

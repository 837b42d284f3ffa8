/**
 * Per-candidate-list state, keyed by Candidates.key and bounded by config.cacheSize
 * (least recently used goes first). Envoy's rule: build on membership change,
 * only read on the hot path. A new key (new catalog index, new filter) gets a
 * fresh entry; structures for the old key age out of the LRU.
 */
import type { Instance } from '../catalog/types.js';
import type { HealthMode, HealthSelection } from './health-filter.js';
import type { LoadView, StateSlot } from './types.js';

/** One counter per strategy (indexed by registration order), so strategies sharing a list do not disturb each other's rotation. */
export interface RotationCounter {
  readonly values: number[];
}

/** One health-filtered view of a candidate list and the structures built from it. */
export interface ListVariant {
  /**
   * Rebuilt when `source` changes: the catalog may replace instance objects without a new
   * index (a check's note), and answers must carry the current objects. Slots stay valid, as
   * the key pins ids, weights and order.
   */
  selection: HealthSelection;
  /** The candidate array the selection was taken from. */
  source: readonly Instance[];
  readonly slots: Map<StateSlot<unknown>, unknown>;
  /** Load records aligned with selection.instances, resolved on first use. */
  loads: readonly LoadView[] | undefined;
  /** LoadTracker.generation when `loads` was resolved; a forgotten instance invalidates it. */
  loadsGeneration: number;
}

export class ListEntry {
  readonly variants: (ListVariant | undefined)[] = [undefined, undefined, undefined];
  constructor(
    readonly key: string,
    /** Length of the candidate list the entry was built from; a mismatch means the key was reused for other contents. */
    readonly length: number,
    readonly rotation: RotationCounter,
  ) {}

  variant(mode: HealthMode): ListVariant | undefined {
    return this.variants[mode];
  }
}

export interface ListCacheStats {
  /** Candidate lists currently cached. */
  size: number;
  capacity: number;
  /** Structures built (rings, tables, weights, …) since start. */
  builds: number;
  /** Lists dropped because the cache was full. */
  evictions: number;
}

export class ListCache {
  private readonly entries = new Map<string, ListEntry>();
  private readonly rotations = new Map<string, RotationCounter>();
  private newest: ListEntry | undefined = undefined;
  builds = 0;
  evictions = 0;

  constructor(readonly capacity: number) {}

  /** The entry for `key`, created when absent or when `length` shows the contents changed. */
  entry(key: string, length: number): ListEntry {
    const newest = this.newest;
    // Repeated queries for the same list skip the LRU reshuffle entirely.
    if (newest !== undefined && newest.key === key && newest.length === length) return newest;
    let entry = this.entries.get(key);
    if (entry !== undefined && entry.length === length) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    } else {
      if (entry !== undefined) this.entries.delete(key);
      entry = new ListEntry(key, length, this.rotation(rotationKey(key)));
      this.entries.set(key, entry);
      this.evict(this.entries);
    }
    this.newest = entry;
    return entry;
  }

  stats(): ListCacheStats {
    return { size: this.entries.size, capacity: this.capacity, builds: this.builds, evictions: this.evictions };
  }

  clear(): void {
    this.entries.clear();
    this.rotations.clear();
    this.newest = undefined;
  }

  /** Rotation counters outlive list entries: a health flap must not send the next query back to the first instance. */
  private rotation(key: string): RotationCounter {
    let counter = this.rotations.get(key);
    if (counter === undefined) counter = { values: [] };
    else this.rotations.delete(key);
    this.rotations.set(key, counter);
    if (this.rotations.size > this.capacity) {
      const oldest = this.rotations.keys().next();
      if (oldest.done !== true) this.rotations.delete(oldest.value);
    }
    return counter;
  }

  private evict(map: Map<string, ListEntry>): void {
    while (map.size > this.capacity) {
      const oldest = map.keys().next();
      if (oldest.done === true) return;
      map.delete(oldest.value);
      this.evictions++;
    }
  }
}

/**
 * "web@42|tag=v2" → "web|tag=v2": the list's identity without the catalog index,
 * i.e. service + filter. Keys without an `@<digits>` part are used as they are.
 */
export function rotationKey(key: string): string {
  const at = key.indexOf('@');
  if (at < 0) return key;
  let end = at + 1;
  while (end < key.length && key.charCodeAt(end) >= 48 && key.charCodeAt(end) <= 57) end++;
  return end === at + 1 ? key : key.slice(0, at) + key.slice(end);
}

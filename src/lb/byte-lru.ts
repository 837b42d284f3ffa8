/**
 * A least-recently-used map bounded both by entry count and by estimated bytes: the
 * load-balancing cache holds rings and tables (up to hundreds of KiB each) next to small
 * per-list state, so a count alone says nothing about memory. Sizes are estimates from
 * typed-array lengths and string lengths, documented in docs/load-balancing.md.
 */
export interface LruEntry {
  readonly key: string;
  /** Estimated heap bytes; change it only through ByteLru.charge(). */
  bytes: number;
}

export class ByteLru<E extends LruEntry> {
  private readonly entries = new Map<string, E>();
  private newest: E | undefined = undefined;
  bytes = 0;
  evictions = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
    private readonly onEvict: (entry: E) => void = () => {},
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The entry under `key`, made the most recently used. */
  get(key: string): E | undefined {
    const newest = this.newest;
    // Repeated hits on one key skip the Map reshuffle.
    if (newest !== undefined && newest.key === key) return newest;
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      this.newest = entry;
    }
    return entry;
  }

  /** Adds (or replaces) an entry as the most recently used, then evicts down to the bounds. */
  set(entry: E): void {
    const previous = this.entries.get(entry.key);
    if (previous !== undefined) this.remove(previous);
    this.entries.set(entry.key, entry);
    this.bytes += entry.bytes;
    this.newest = entry;
    this.evict(entry);
  }

  /** Updates an entry's size (it grew as structures were built on it) and evicts others if needed. */
  charge(entry: E, bytes: number): void {
    if (this.entries.get(entry.key) !== entry) {
      entry.bytes = bytes;
      return;
    }
    this.bytes += bytes - entry.bytes;
    entry.bytes = bytes;
    this.evict(entry);
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry !== undefined) this.remove(entry);
  }

  clear(): void {
    for (const entry of [...this.entries.values()]) this.remove(entry);
  }

  /**
   * Oldest first, never `keep`: the entry being used stays even when it alone is over the
   * byte bound (dropping it would only rebuild it on the next query).
   */
  private evict(keep: E): void {
    if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) return;
    for (const entry of this.entries.values()) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) return;
      if (entry === keep) continue;
      this.remove(entry);
      this.evictions++;
    }
  }

  private remove(entry: E): void {
    this.entries.delete(entry.key);
    this.bytes -= entry.bytes;
    if (this.newest === entry) this.newest = undefined;
    this.onEvict(entry);
  }
}

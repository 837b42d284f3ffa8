/**
 * Whole answer bodies, kept while the items they join are unchanged, so that the same long answer
 * asked again is the bytes already built instead of a new buffer. Joining cached items into a
 * fresh buffer per request (instance-json.ts) still cost a copy of every byte and, past
 * Buffer.poolSize / 2, one buffer of its own outside V8's heap per request: V8 counts those as
 * external memory and, at some 70 KB an answer and thousands of answers a second, that pressure
 * alone started a scavenge every few dozen milliseconds (Consul's /v1/health/service of a
 * 100-instance service: 96-200 µs of server CPU per request, 71-84 µs with this).
 *
 * An answer is known by its items: the same item buffers in the same order give the same bytes,
 * and the catalog replaces an instance record, hence its item, on every change, so a kept body
 * can never be stale. Entries are found by their first item and compared item by item (pointer
 * comparisons, no hashing of bytes). Bodies Node cuts from its shared pool (under half of
 * Buffer.poolSize) are cheap to build and are not kept.
 *
 * Bound: `maxBytes` (http.answerCacheBytes) over all entries, each charged its body, the items it
 * holds alive (about the body's size again, even after their records are replaced) and its list;
 * least recently used first out. 0 keeps nothing.
 */
export interface AnswerCacheStats {
  bytes: number;
  entries: number;
  hits: number;
  misses: number;
  evictions: number;
}

interface Joined {
  readonly items: readonly Buffer[];
  readonly body: Buffer;
  readonly bytes: number;
}

/** Answers sharing a first item (the same service with and without ?passing, or a tag) kept side by side. */
const MAX_PER_FIRST_ITEM = 4;
/** A kept entry's own objects (the entry, its list's header) beside its bytes. */
const ENTRY_OVERHEAD_BYTES = 96;
/** Bytes per item reference in an entry's list. */
const POINTER_BYTES = 8;

export class JoinedAnswers {
  /** Smallest body kept: smaller ones come from Node's shared pool. */
  static readonly minBodyBytes = Buffer.poolSize >>> 1;

  private readonly byFirstItem = new Map<Buffer, Joined[]>();
  /** Every entry, least recently used first (a Set keeps insertion order). */
  private readonly recency = new Set<Joined>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(readonly maxBytes: number) {}

  /** The kept body that joins exactly `items`, or undefined. */
  find(items: readonly Buffer[]): Buffer | undefined {
    if (items.length === 0) return undefined;
    const candidates = this.byFirstItem.get(items[0]);
    if (candidates !== undefined) {
      for (const joined of candidates) {
        if (!sameItems(joined.items, items)) continue;
        this.hits++;
        this.recency.delete(joined);
        this.recency.add(joined);
        return joined.body;
      }
    }
    this.misses++;
    return undefined;
  }

  /** Keeps `body`, the join of `items`, when it is long enough to be worth it and fits the bound. */
  keep(items: readonly Buffer[], body: Buffer): void {
    if (items.length === 0 || body.length < JoinedAnswers.minBodyBytes) return;
    const bytes = 2 * body.length + items.length * POINTER_BYTES + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.maxBytes) return;
    const joined: Joined = { items: items.slice(), body, bytes };
    const first = items[0];
    let candidates = this.byFirstItem.get(first);
    if (candidates === undefined) {
      candidates = [];
      this.byFirstItem.set(first, candidates);
    } else if (candidates.length >= MAX_PER_FIRST_ITEM) {
      this.remove(candidates[0]);
    }
    candidates.push(joined);
    this.recency.add(joined);
    this.bytes += bytes;
    for (const oldest of this.recency) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(oldest);
    }
  }

  stats(): AnswerCacheStats {
    return {
      bytes: this.bytes,
      entries: this.recency.size,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
    };
  }

  private remove(joined: Joined): void {
    this.recency.delete(joined);
    this.bytes -= joined.bytes;
    this.evictions++;
    const first = joined.items[0];
    const candidates = this.byFirstItem.get(first)!;
    const at = candidates.indexOf(joined);
    candidates.splice(at, 1);
    if (candidates.length === 0) this.byFirstItem.delete(first);
  }
}

function sameItems(kept: readonly Buffer[], items: readonly Buffer[]): boolean {
  if (kept.length !== items.length) return false;
  for (let i = 0; i < items.length; i++) if (kept[i] !== items[i]) return false;
  return true;
}

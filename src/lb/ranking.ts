/**
 * Orders indices by two numeric keys (ascending), then by index: the shared core of
 * least-connections, latency-based, weighted-round-robin's fallback and
 * weighted-random's full order. (primary, secondary, index) is a total order with no
 * equal elements, so the result is deterministic for deterministic keys.
 *
 * Small limits keep a sorted buffer of the best k seen in one pass: O(n) with one
 * comparison per element in the common case. Larger limits use a quicksort that stops
 * recursing into partitions entirely past the limit (O(n + k log k) expected). Both are
 * written out with inlined comparisons: TypedArray#sort with a comparator calls back into
 * JavaScript for every comparison and was several times slower here.
 */
const BUFFER_LIMIT = 16;
const INSERTION_SORT_SIZE = 16;

export class Ranker {
  primary = new Float64Array(0);
  secondary = new Float64Array(0);
  private order = new Uint32Array(0);

  /** Makes `primary` and `secondary` hold at least n keys; fill them before rank(). */
  prepare(n: number): void {
    if (this.primary.length < n) {
      const size = Math.max(n, this.primary.length * 2);
      this.primary = new Float64Array(size);
      this.secondary = new Float64Array(size);
      this.order = new Uint32Array(size);
    }
  }

  /**
   * The first `limit` indices of 0..n-1 by (primary, secondary, index) ascending.
   * Infinity is a valid key (sorts last); NaN is not — callers map "no data" to Infinity.
   * The returned view is reused by the next call.
   */
  rank(n: number, limit: number): Uint32Array {
    return limit <= BUFFER_LIMIT ? this.best(n, limit) : this.partialSort(n, limit);
  }

  private best(n: number, limit: number): Uint32Array {
    const order = this.order;
    let size = 0;
    for (let i = 0; i < n; i++) {
      if (size === limit && !this.less(i, order[size - 1])) continue;
      let position = size < limit ? size++ : size - 1;
      while (position > 0 && this.less(i, order[position - 1])) {
        order[position] = order[position - 1];
        position--;
      }
      order[position] = i;
    }
    return order.subarray(0, size);
  }

  private partialSort(n: number, limit: number): Uint32Array {
    const order = this.order;
    for (let i = 0; i < n; i++) order[i] = i;
    this.sortRange(0, n - 1, limit);
    return order.subarray(0, limit);
  }

  /** Sorts order[low..high] far enough that positions below `limit` hold their final values. */
  private sortRange(low: number, high: number, limit: number): void {
    const order = this.order;
    while (high - low > INSERTION_SORT_SIZE) {
      if (low >= limit) return;
      const middle = (low + high) >>> 1;
      // Median of three as the pivot keeps sorted and reversed inputs at O(n log n).
      let a = order[low];
      let b = order[middle];
      const c = order[high];
      if (this.less(b, a)) [a, b] = [b, a];
      const pivot = this.less(c, a) ? a : this.less(c, b) ? c : b;
      let i = low;
      let j = high;
      while (i <= j) {
        while (this.less(order[i], pivot)) i++;
        while (this.less(pivot, order[j])) j--;
        if (i <= j) {
          const swap = order[i];
          order[i] = order[j];
          order[j] = swap;
          i++;
          j--;
        }
      }
      if (i >= limit) {
        high = j;
      } else if (j - low < high - i) {
        this.sortRange(low, j, limit);
        low = i;
      } else {
        this.sortRange(i, high, limit);
        high = j;
      }
    }
    if (low >= limit) return;
    for (let i = low + 1; i <= high; i++) {
      const value = order[i];
      let position = i;
      while (position > low && this.less(value, order[position - 1])) {
        order[position] = order[position - 1];
        position--;
      }
      order[position] = value;
    }
  }

  private less(a: number, b: number): boolean {
    const primaryA = this.primary[a];
    const primaryB = this.primary[b];
    if (primaryA !== primaryB) return primaryA < primaryB;
    const secondaryA = this.secondary[a];
    const secondaryB = this.secondary[b];
    if (secondaryA !== secondaryB) return secondaryA < secondaryB;
    return a < b;
  }
}

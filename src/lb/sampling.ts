/**
 * Uniform draws without replacement over indices 0..n-1, reused across queries.
 *
 * Two modes, picked per query from n and the number of picks k:
 * - k small against n (k·4 ≤ n): rejection against a generation-stamped array.
 *   At most a quarter of the indices are ever taken, so a draw needs ≤ 4/3 tries on
 *   average and nothing is copied: O(k) per query, independent of n.
 * - otherwise: a pool of untaken indices with swap-remove (Fisher–Yates), O(n) to set up.
 */
export class UniqueSampler {
  private stamps = new Uint32Array(0);
  private stamp = 0;
  private pool = new Uint32Array(0);
  private where = new Uint32Array(0);
  private n = 0;
  private pooled = false;
  /** Untaken indices left. */
  remaining = 0;

  begin(n: number, picks: number): void {
    this.n = n;
    this.remaining = n;
    this.pooled = picks * 4 > n;
    if (this.pooled) {
      if (this.pool.length < n) {
        this.pool = new Uint32Array(n);
        this.where = new Uint32Array(n);
      }
      const pool = this.pool;
      const where = this.where;
      for (let i = 0; i < n; i++) {
        pool[i] = i;
        where[i] = i;
      }
    } else {
      if (this.stamps.length < n) {
        this.stamps = new Uint32Array(n);
        this.stamp = 0;
      }
      this.stamp++;
      if (this.stamp === 0xffffffff) {
        this.stamps.fill(0);
        this.stamp = 1;
      }
    }
  }

  /** A uniformly random untaken index (not taken by this call). Needs remaining ≥ 1. */
  draw(random: () => number): number {
    if (this.pooled) return this.pool[uniformIndex(random, this.remaining)];
    const stamps = this.stamps;
    for (;;) {
      const i = uniformIndex(random, this.n);
      if (stamps[i] !== this.stamp) return i;
    }
  }

  /** A uniformly random untaken index other than `exclude` (itself untaken). Needs remaining ≥ 2. */
  drawOther(random: () => number, exclude: number): number {
    if (this.pooled) {
      const position = this.where[exclude];
      let other = uniformIndex(random, this.remaining - 1);
      if (other >= position) other++;
      return this.pool[other];
    }
    const stamps = this.stamps;
    for (;;) {
      const i = uniformIndex(random, this.n);
      if (i !== exclude && stamps[i] !== this.stamp) return i;
    }
  }

  take(i: number): void {
    if (this.pooled) {
      const pool = this.pool;
      const where = this.where;
      const position = where[i];
      const last = pool[this.remaining - 1];
      pool[position] = last;
      where[last] = position;
      pool[this.remaining - 1] = i;
      where[i] = this.remaining - 1;
    } else {
      this.stamps[i] = this.stamp;
    }
    this.remaining--;
  }
}

/** floor(random() · n), guarded against a generator that returns 1. */
export function uniformIndex(random: () => number, n: number): number {
  const i = Math.floor(random() * n);
  return i < n ? i : n - 1;
}

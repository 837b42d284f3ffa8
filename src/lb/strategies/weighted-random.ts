/**
 * weighted-random: weighted sampling without replacement — each position is drawn with
 * probability proportional to weight among the instances not yet placed, so the first
 * position is chosen with probability w/Σw.
 *
 * Small limits (k ≤ 8): a cumulative-weight array cached with the list, binary search,
 * and already-drawn intervals skipped by shifting the target past them:
 * O(k² + k log n) per query, no O(n) pass.
 * Larger limits and full orders: Efraimidis & Spirakis, "Weighted random sampling with a
 * reservoir" (IPL 2006) — key each instance by -ln(u)/w (the log of u^(1/w), negated)
 * and sort ascending; this gives exactly the same distribution. Zero-weight instances
 * come last, in random order.
 */
import type { Instance } from '../../catalog/types.js';
import { Ranker } from '../ranking.js';
import type { StateSlot, Strategy, StrategyContext } from '../types.js';
import { WEIGHTS } from '../weights.js';

const DRAW_LIMIT = 8;

interface Cumulative {
  /** ends[i] = w0 + … + wi; instance i owns [ends[i] - wi, ends[i]). */
  readonly ends: Float64Array;
}

const CUMULATIVE: StateSlot<Cumulative> = {
  name: 'weighted-random',
  build: (_instances, ctx) => {
    const values = ctx.state(WEIGHTS).values;
    const ends = new Float64Array(values.length);
    let sum = 0;
    for (let i = 0; i < values.length; i++) ends[i] = sum += values[i];
    return { ends };
  },
};

export class WeightedRandomStrategy implements Strategy {
  readonly name = 'weighted-random';
  readonly weighted = true;
  private readonly ranker = new Ranker();
  private readonly drawn = new Uint32Array(DRAW_LIMIT);

  order(instances: readonly Instance[], ctx: StrategyContext): Instance[] {
    const weights = ctx.weights();
    // The cumulative array is cached for the stored weights; ramped ones (slow start) race instead.
    if (ctx.limit <= DRAW_LIMIT && ctx.limit <= weights.positive && weights === ctx.state(WEIGHTS))
      return this.draw(instances, ctx, weights.values, weights.total);
    return this.race(instances, ctx, weights.values);
  }

  private draw(instances: readonly Instance[], ctx: StrategyContext, values: Float64Array, total: number): Instance[] {
    const ends = ctx.state(CUMULATIVE).ends;
    const drawn = this.drawn; // indices placed so far, ascending
    const limit = ctx.limit;
    const n = instances.length;
    const out = new Array<Instance>(limit);
    let remaining = total;
    for (let position = 0; position < limit; position++) {
      // A point in the weight line with the drawn intervals cut out, mapped back onto the full line.
      let target = ctx.random() * remaining;
      for (let d = 0; d < position; d++) {
        const start = ends[drawn[d]] - values[drawn[d]];
        if (start <= target) target += values[drawn[d]];
        else break;
      }
      let low = 0;
      let high = n - 1;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (ends[middle] > target) high = middle;
        else low = middle + 1;
      }
      const chosen = this.settle(low, values, position);
      out[position] = instances[chosen];
      remaining -= values[chosen];
      let d = position;
      while (d > 0 && drawn[d - 1] > chosen) {
        drawn[d] = drawn[d - 1];
        d--;
      }
      drawn[d] = chosen;
    }
    return out;
  }

  /** Floating-point rounding can land a target on a drawn or zero-weight index; move to the nearest eligible one. */
  private settle(index: number, values: Float64Array, placed: number): number {
    if (this.eligible(index, values, placed)) return index;
    for (let step = 1; step < values.length; step++) {
      if (index - step >= 0 && this.eligible(index - step, values, placed)) return index - step;
      if (index + step < values.length && this.eligible(index + step, values, placed)) return index + step;
    }
    return index;
  }

  private eligible(index: number, values: Float64Array, placed: number): boolean {
    if (values[index] <= 0) return false;
    for (let d = 0; d < placed; d++) if (this.drawn[d] === index) return false;
    return true;
  }

  private race(instances: readonly Instance[], ctx: StrategyContext, values: Float64Array): Instance[] {
    const n = instances.length;
    const ranker = this.ranker;
    ranker.prepare(n);
    const primary = ranker.primary;
    const secondary = ranker.secondary;
    for (let i = 0; i < n; i++) {
      const u = ctx.random();
      // 1 - u is in (0, 1], so the key is finite and ≥ 0.
      primary[i] = values[i] > 0 ? -Math.log(1 - u) / values[i] : Infinity;
      secondary[i] = u;
    }
    const order = ranker.rank(n, ctx.limit);
    const out = new Array<Instance>(order.length);
    for (let position = 0; position < order.length; position++) out[position] = instances[order[position]];
    return out;
  }
}

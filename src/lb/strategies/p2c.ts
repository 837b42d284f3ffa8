/**
 * p2c: the power of two choices (Mitzenmacher, "The Power of Two Choices in Randomized
 * Load Balancing", IEEE TPDS 2001; Envoy's least_request with choice_count 2). Two
 * distinct instances are drawn uniformly; the one with the lower connections/weight
 * goes first (the first drawn on ties). Every later position is a fresh two-choice
 * draw among the instances not yet placed, so the fallback order keeps the same bias
 * toward lightly loaded instances. Zero-weight instances lose every comparison.
 * O(k) for k ≪ n: no pass over all instances, which is its advantage over least-connections.
 */
import type { Instance } from '../../catalog/types.js';
import { UniqueSampler } from '../sampling.js';
import type { LoadView, Strategy, StrategyContext } from '../types.js';

export class PowerOfTwoChoicesStrategy implements Strategy {
  readonly name = 'p2c';
  readonly weighted = true;
  private readonly sampler = new UniqueSampler();

  order(instances: readonly Instance[], ctx: StrategyContext): Instance[] {
    const loads = ctx.loads();
    const values = ctx.weights().values;
    const random = ctx.random;
    const limit = ctx.limit;
    const sampler = this.sampler;
    sampler.begin(instances.length, limit);
    const out = new Array<Instance>(limit);
    for (let position = 0; position < limit; position++) {
      let chosen = sampler.draw(random);
      if (sampler.remaining > 1) {
        const other = sampler.drawOther(random, chosen);
        if (load(loads[other], values[other]) < load(loads[chosen], values[chosen])) chosen = other;
      }
      sampler.take(chosen);
      out[position] = instances[chosen];
    }
    return out;
  }
}

function load(view: LoadView, weight: number): number {
  return weight > 0 ? view.connections / weight : Infinity;
}

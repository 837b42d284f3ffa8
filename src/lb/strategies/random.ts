/**
 * random: a uniform random order — Fisher–Yates, stopped after k positions for limit k
 * (Knuth, TAOCP vol. 2, Algorithm P). For k ≪ n the sampler draws k distinct indices
 * by rejection instead, so a query costs O(k) whatever the size of the service.
 */
import type { Instance } from '../../catalog/types.js';
import { UniqueSampler } from '../sampling.js';
import type { Strategy, StrategyContext } from '../types.js';

export class RandomStrategy implements Strategy {
  readonly name = 'random';
  private readonly sampler = new UniqueSampler();

  order(instances: readonly Instance[], ctx: StrategyContext): Instance[] {
    const limit = ctx.limit;
    const sampler = this.sampler;
    sampler.begin(instances.length, limit);
    const out = new Array<Instance>(limit);
    for (let position = 0; position < limit; position++) {
      const i = sampler.draw(ctx.random);
      sampler.take(i);
      out[position] = instances[i];
    }
    return out;
  }
}

/**
 * round-robin: the base order (by id) rotated by one position per query. The counter
 * belongs to the service and filter (Candidates.key without its catalog index), so it
 * keeps turning across membership and health changes. O(k) for limit k.
 */
import type { Instance } from '../../catalog/types.js';
import type { Strategy, StrategyContext } from '../types.js';

export class RoundRobinStrategy implements Strategy {
  readonly name = 'round-robin';

  order(instances: readonly Instance[], ctx: StrategyContext): Instance[] {
    const n = instances.length;
    const limit = ctx.limit;
    let index = ctx.nextRotation() % n;
    const out = new Array<Instance>(limit);
    for (let position = 0; position < limit; position++) {
      out[position] = instances[index];
      if (++index === n) index = 0;
    }
    return out;
  }
}

/**
 * weighted-round-robin: nginx's smooth weighted round-robin
 * (src/http/ngx_http_upstream_round_robin.c, ngx_http_upstream_get_peer): on each query
 * every instance adds its weight to its current weight, the largest current weight wins
 * (the first one on ties) and gives back the total weight. Weights 5, 1, 1 pick
 * a a b a c a a: the heavy instance is spread out instead of served in a burst.
 *
 * The state is cached with the candidate list, so it starts afresh when membership or
 * weights change (a new Candidates.key). After the winner, the rest follow by descending
 * current weight — the instances SWRR owes the most picks, i.e. those it would choose
 * next — then by descending weight, then by id; zero-weight instances come last.
 * O(n) per query (as in nginx), plus O(n·k) or O(n log n) for the fallback order.
 */
import type { Instance } from '../../catalog/types.js';
import { Ranker } from '../ranking.js';
import type { StateSlot, Strategy, StrategyContext } from '../types.js';

interface SmoothState {
  readonly current: Float64Array;
}

const SMOOTH_STATE: StateSlot<SmoothState> = {
  name: 'weighted-round-robin',
  build: (instances) => ({ current: new Float64Array(instances.length) }),
};

export class WeightedRoundRobinStrategy implements Strategy {
  readonly name = 'weighted-round-robin';
  readonly weighted = true;
  private readonly ranker = new Ranker();

  order(instances: readonly Instance[], ctx: StrategyContext): Instance[] {
    const { values, total } = ctx.weights();
    const current = ctx.state(SMOOTH_STATE).current;
    const n = instances.length;
    let best = -1;
    for (let i = 0; i < n; i++) {
      if (values[i] <= 0) continue;
      current[i] += values[i];
      if (best < 0 || current[i] > current[best]) best = i;
    }
    current[best] -= total;
    if (ctx.limit === 1) return [instances[best]];

    const ranker = this.ranker;
    ranker.prepare(n);
    const primary = ranker.primary;
    const secondary = ranker.secondary;
    for (let i = 0; i < n; i++) {
      primary[i] = values[i] > 0 ? -current[i] : Infinity;
      secondary[i] = -values[i];
    }
    primary[best] = -Infinity;
    const order = ranker.rank(n, ctx.limit);
    const out = new Array<Instance>(order.length);
    for (let position = 0; position < order.length; position++) out[position] = instances[order[position]];
    return out;
  }
}

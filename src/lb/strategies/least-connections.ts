/**
 * least-connections: ascending by the instance's reported active connections
 * (PUT /catalog/instances/:id/load). Weight is not considered — p2c divides by weight.
 * Instances with equal counts (typically all 0 before any report) are taken in an order
 * rotated by one per query, so a burst of queries between two reports spreads over
 * the tied instances instead of piling onto the first by id.
 * O(n) to read the counts, plus O(n·k) for k ≤ 8 or O(n log n) beyond.
 */
import type { Instance } from '../../catalog/types.js';
import { Ranker } from '../ranking.js';
import type { Strategy, StrategyContext } from '../types.js';

export class LeastConnectionsStrategy implements Strategy {
  readonly name = 'least-connections';
  private readonly ranker = new Ranker();

  order(instances: readonly Instance[], ctx: StrategyContext): Instance[] {
    const n = instances.length;
    const loads = ctx.loads();
    const start = ctx.nextRotation() % n;
    const ranker = this.ranker;
    ranker.prepare(n);
    const primary = ranker.primary;
    const secondary = ranker.secondary;
    for (let i = 0; i < n; i++) {
      primary[i] = loads[i].connections;
      secondary[i] = i >= start ? i - start : i - start + n;
    }
    const order = ranker.rank(n, ctx.limit);
    const out = new Array<Instance>(order.length);
    for (let position = 0; position < order.length; position++) out[position] = instances[order[position]];
    return out;
  }
}

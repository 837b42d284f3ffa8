/**
 * latency-based: ascending by the configured latency from the client's region to the
 * instance's region (config.lb.latency[clientRegion][instance.region]); instances whose
 * pair is not configured (or that have no region) follow. The reported latency
 * (EWMA of PUT /catalog/instances/:id/load latencyMs) breaks ties, and orders on its
 * own when no client region is given or the region is not configured; instances
 * with no reported latency come after those with one. Remaining ties keep id order.
 * O(n) per query, plus O(n·k) for k ≤ 8 or O(n log n) beyond.
 */
import { Type } from 'typebox';
import type { Instance } from '../../catalog/types.js';
import { Ranker } from '../ranking.js';
import type { StateSlot, Strategy, StrategyContext } from '../types.js';

/** Configured latency per instance, per client region, built lazily for regions present in the config. */
interface RegionLatencies {
  readonly byClientRegion: Map<string, Float64Array>;
}

const REGION_LATENCIES: StateSlot<RegionLatencies> = {
  name: 'latency-based',
  build: () => ({ byClientRegion: new Map() }),
};

/**
 * latency-based's own config block, `lb.latency`: `{ "<client region>": { "<instance region>": ms } }`.
 * The config schema collects it (strategy-configs.ts); a user's file replaces it whole.
 */
export const latencyConfig = {
  key: 'latency',
  schema: Type.Record(
    Type.String({ minLength: 1, maxLength: 128 }),
    Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Type.Number({ minimum: 0 })),
  ),
} as const;

export class LatencyBasedStrategy implements Strategy {
  readonly name = 'latency-based';
  private readonly ranker = new Ranker();

  order(instances: readonly Instance[], ctx: StrategyContext): Instance[] {
    const n = instances.length;
    const configured = this.configured(instances, ctx);
    const loads = ctx.loads();
    const ranker = this.ranker;
    ranker.prepare(n);
    const primary = ranker.primary;
    const secondary = ranker.secondary;
    for (let i = 0; i < n; i++) {
      primary[i] = configured === undefined ? Infinity : configured[i];
      const observed = loads[i].latencyMs;
      secondary[i] = Number.isNaN(observed) ? Infinity : observed;
    }
    const order = ranker.rank(n, ctx.limit);
    const out = new Array<Instance>(order.length);
    for (let position = 0; position < order.length; position++) out[position] = instances[order[position]];
    return out;
  }

  /** Per-instance configured latency for the client's region; undefined when the region has no row (caller input stays out of the cache). */
  private configured(instances: readonly Instance[], ctx: StrategyContext): Float64Array | undefined {
    const region = ctx.clientRegion;
    if (region === undefined || !Object.hasOwn(ctx.config.latency, region)) return undefined;
    const cache = ctx.state(REGION_LATENCIES).byClientRegion;
    let latencies = cache.get(region);
    if (latencies === undefined) {
      const row = ctx.config.latency[region];
      latencies = new Float64Array(instances.length);
      for (let i = 0; i < instances.length; i++) {
        const target = instances[i].region;
        latencies[i] = target !== null && Object.hasOwn(row, target) ? row[target] : Infinity;
      }
      cache.set(region, latencies);
    }
    return latencies;
  }
}

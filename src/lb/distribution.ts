/**
 * How a strategy spreads a service's traffic, measured by asking it: for a strategy keyed by the
 * client (ip-hash, ring-hash, maglev), which instance comes first for each of `keys` sample keys;
 * for the others, which comes first over a window of `window` consecutive queries. Run on a
 * manager of its own (the UI's), so sampling takes no turn from the rotation real clients see.
 */
import type { Exclusion } from '../catalog/types.js';
import type { StrategyManager } from './manager.js';
import type { Candidates, OrderOptions } from './types.js';

export interface InstanceShare {
  id: string;
  weight: number;
  /** weight / total weight of the instances that can be answered. */
  weightShare: number;
  /** Samples this instance came first in. */
  first: number;
  /** first / samples. */
  share: number;
}

export interface Distribution {
  strategy: string;
  /** `keys`: one query per sample key; `window`: consecutive queries with no key. */
  sampling: 'keys' | 'window';
  samples: number;
  panic: boolean;
  instances: InstanceShare[];
}

export interface DistributionOptions {
  strategy: string;
  /** Sample keys for strategies keyed by the client. */
  keys: number;
  /** Queries for the others. */
  window: number;
  passingOnly?: boolean;
}

/** Strategies whose order depends on a session key rather than the client's address. */
const SESSION_KEYED = new Set(['ring-hash', 'maglev']);

export async function sampleDistribution(
  manager: StrategyManager,
  candidates: Candidates,
  options: DistributionOptions,
): Promise<Distribution> {
  const strategy = manager.resolve(options.strategy);
  const keyed = strategy.keyedByClient === true || SESSION_KEYED.has(strategy.name);
  const order: OrderOptions = {
    strategy: strategy.name,
    limit: 1,
    passingOnly: options.passingOnly ?? false,
    sessionKey: 'key-0',
    clientIp: '10.0.0.0',
  };
  // The first query queues the service's table; sampling waits for it so the shares are the table's.
  // It also asks the health filter which instances it leaves out: the bars are the others.
  const excluded: Exclusion[] = [];
  const first = manager.order(candidates, { ...order, excluded });
  await manager.tablesBuilt();
  const left = new Set(excluded.map((exclusion) => exclusion.id));
  const answerable = candidates.instances.filter((instance) => !left.has(instance.id));
  const counts = new Map<string, number>(answerable.map((instance) => [instance.id, 0]));
  const samples = keyed ? options.keys : options.window;
  for (let i = 0; i < samples; i++) {
    if (keyed) {
      order.sessionKey = `key-${i}`;
      order.clientIp = `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
    }
    const ordered = manager.order(candidates, order).instances;
    if (ordered.length > 0) counts.set(ordered[0].id, (counts.get(ordered[0].id) ?? 0) + 1);
  }
  const totalWeight = answerable.reduce((sum, instance) => sum + instance.weight, 0);
  return {
    strategy: strategy.name,
    sampling: keyed ? 'keys' : 'window',
    samples,
    panic: first.panic,
    instances: answerable.map((instance) => {
      const count = counts.get(instance.id) ?? 0;
      return {
        id: instance.id,
        weight: instance.weight,
        weightShare: totalWeight === 0 ? 0 : instance.weight / totalWeight,
        first: count,
        share: samples === 0 ? 0 : count / samples,
      };
    }),
  };
}

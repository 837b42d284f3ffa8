/**
 * Slow start (Envoy's slow_start_config, nginx's `slow_start`): an instance that joined a service
 * or turned passing again answers with a weight ramped from `minWeightPercent` up to its full
 * weight over a window, so a cold instance is not handed its full share at once.
 *
 * The ramp is a per-answer factor on the weights the weighted strategies read (weighted-random,
 * weighted-round-robin, p2c); rings and Maglev tables stay keyed by the stored weights, so a ramp
 * never rebuilds a table. Hash strategies ignore it: their stickiness wins (as in Envoy, whose
 * ring hash and Maglev have no slow start).
 *
 * "Since" is the later of when this node first ordered the instance (the injected clock) and the
 * latest time one of its checks turned passing (the catalog's statusChangedAt, the same on every
 * node and across restarts). After a restart every instance ramps from the same moment, which
 * leaves their shares unchanged. No timers: factors are computed at query time.
 */
import type { Instance } from '../catalog/types.js';
import type { Weights } from './weights.js';

export interface SlowStartConfig {
  /** Ramp length; 0 = off. */
  windowMs: number;
  /** Envoy's aggression: factor = (elapsed/window)^(1/aggression); 1 = linear, above 1 ramps faster early. */
  aggression: number;
  /** The factor never falls below this share of the full weight, so a new instance still gets some traffic. */
  minWeightPercent: number;
}

/** The share of its weight an instance gets `elapsedMs` into its ramp. */
export function rampFactor(elapsedMs: number, config: SlowStartConfig): number {
  if (config.windowMs <= 0 || elapsedMs >= config.windowMs) return 1;
  const progress = Math.max(0, elapsedMs) / config.windowMs;
  const ramped = config.aggression === 1 ? progress : Math.pow(progress, 1 / config.aggression);
  return Math.max(config.minWeightPercent / 100, ramped);
}

/** When each instance in a health-filtered list started its ramp, and the latest such start. */
export interface RampStarts {
  readonly since: Float64Array;
  readonly latest: number;
}

export class SlowStartTracker {
  /** Epoch ms this node first ordered each instance; one entry per instance, dropped on deregistration. */
  private readonly firstSeen = new Map<string, number>();

  constructor(private readonly now: () => number) {}

  /** Ramp starts for a health-filtered list; built once per list variant (list-cache.ts). */
  starts(instances: readonly Instance[]): RampStarts {
    const now = this.now();
    const since = new Float64Array(instances.length);
    let latest = -Infinity;
    for (let i = 0; i < instances.length; i++) {
      const instance = instances[i];
      let first = this.firstSeen.get(instance.id);
      if (first === undefined) this.firstSeen.set(instance.id, (first = now));
      let start = first;
      for (const check of instance.checks)
        if (check.status === 'passing' && check.statusChangedAt > start) start = check.statusChangedAt;
      since[i] = start;
      if (start > latest) latest = start;
    }
    return { since, latest };
  }

  /** `base` scaled by each instance's ramp factor now, or undefined when no instance is ramping. */
  ramped(base: Weights, starts: RampStarts, config: SlowStartConfig): Weights | undefined {
    const now = this.now();
    if (config.windowMs <= 0 || now - starts.latest >= config.windowMs) return undefined;
    const source = base.values;
    const values = new Float64Array(source.length);
    let total = 0;
    for (let i = 0; i < source.length; i++) {
      values[i] = source[i] * rampFactor(now - starts.since[i], config);
      total += values[i];
    }
    return { values, total, positive: base.positive };
  }

  forget(instanceId: string): void {
    this.firstSeen.delete(instanceId);
  }
}

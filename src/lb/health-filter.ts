/**
 * The health filter the manager applies before any strategy, with Envoy-style
 * panic mode: when too few candidates are healthy, routing to the few survivors
 * would overload them, so every candidate is returned instead
 * (Envoy: "Panic threshold", healthy_panic_threshold).
 *
 * Instances an operator put in maintenance are left out before anything else, whatever the
 * health mode, and do not count towards the panic threshold: like Envoy's excluded hosts, they
 * are not part of the set at all, so a drain can never bring them back through panic mode.
 */
import type { Exclusion, Instance } from '../catalog/types.js';

/** 0: no filter, 1: drop critical, 2: passing only. Also the index of the cached variant. */
export type HealthMode = 0 | 1 | 2;
export const HEALTH_MODES = 3;

export function healthMode(healthFilter: boolean | undefined, passingOnly: boolean | undefined): HealthMode {
  if (passingOnly === true) return 2;
  return healthFilter === false ? 0 : 1;
}

export interface HealthSelection {
  /** What the strategy orders: the healthy instances, or all of them in panic. */
  readonly instances: readonly Instance[];
  readonly filtered: number;
  readonly panic: boolean;
  /** How many instances were left out for maintenance. */
  readonly held: number;
}

/**
 * Given `excluded` (an `explain` query), appends each instance the filter leaves out with the
 * status that did it; nothing in panic, where every candidate is answered.
 */
export function selectHealthy(
  instances: readonly Instance[],
  mode: HealthMode,
  panicThreshold: number,
  excluded?: Exclusion[],
): HealthSelection {
  let held = 0;
  for (const instance of instances) {
    if (instance.maintenance === undefined) continue;
    held++;
    excluded?.push({ id: instance.id, reason: 'maintenance', instance });
  }
  const inService = held === 0 ? instances : instances.filter((instance) => instance.maintenance === undefined);
  if (mode === 0) return { instances: inService, filtered: 0, panic: false, held };
  let healthy = 0;
  for (const instance of inService) if (healthExclusion(instance, mode) === null) healthy++;
  const total = inService.length;
  if (healthy === total) return { instances: inService, filtered: 0, panic: false, held };
  if (panicThreshold > 0 && (healthy / total) * 100 < panicThreshold)
    return { instances: inService, filtered: 0, panic: true, held };
  const kept: Instance[] = [];
  for (const instance of inService) {
    const reason = healthExclusion(instance, mode);
    if (reason === null) kept.push(instance);
    else excluded?.push({ id: instance.id, reason, instance });
  }
  return { instances: kept, filtered: total - healthy, panic: false, held };
}

/** The status that keeps an instance out under `mode`, or null when it is healthy enough. */
function healthExclusion(instance: Instance, mode: HealthMode): 'critical' | 'warning' | null {
  const status = instance.status;
  if (status === 'passing') return null;
  if (status === 'critical') return 'critical';
  return mode === 2 ? 'warning' : null;
}

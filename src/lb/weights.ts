/**
 * Effective weights of a candidate list, computed once per list. A weight that is not
 * a positive finite number counts as 0 (the instance only serves once the others are
 * exhausted); when every weight is 0 they all count as 1, so a list of unweighted
 * instances still balances instead of returning nothing.
 */
import type { Instance } from '../catalog/types.js';
import type { StateSlot } from './types.js';

export interface Weights {
  readonly values: Float64Array;
  readonly total: number;
  /** Instances with a positive effective weight. */
  readonly positive: number;
}

export function effectiveWeights(instances: readonly Instance[]): Weights {
  const values = new Float64Array(instances.length);
  let total = 0;
  let positive = 0;
  for (let i = 0; i < instances.length; i++) {
    const weight = instances[i].weight;
    if (Number.isFinite(weight) && weight > 0) {
      values[i] = weight;
      total += weight;
      positive++;
    }
  }
  if (positive === 0) {
    values.fill(1);
    total = instances.length;
    positive = instances.length;
  }
  return { values, total, positive };
}

export const WEIGHTS: StateSlot<Weights> = {
  name: 'weights',
  build: (instances) => effectiveWeights(instances),
};

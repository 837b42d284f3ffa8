/**
 * The Maglev lookup table (Eisenbud et al., "Maglev: A Fast and Reliable Software
 * Network Load Balancer", NSDI 2016, §3.4, Pseudocode 1), with weights as in Envoy's
 * maglev_lb.cc: every instance walks its own permutation of the M slots
 * (offset + j·skip mod M) and claims its next free slot in turn; an instance of weight w
 * takes a turn in w/maxWeight of the rounds, so it ends up with about w/Σw of the slots.
 *
 * offset and skip come from two independent hashes of the instance id, so the table
 * depends on the set of ids and weights only. M must be prime for every skip to be
 * coprime with it (each permutation then visits every slot).
 */
import type { Instance } from '../catalog/types.js';
import { hash53 } from './hash.js';
import type { StateSlot } from './types.js';
import { ownerTable, type OwnerTable } from './walk.js';
import { WEIGHTS } from './weights.js';

const EMPTY = 0xffffffff;

export interface MaglevTable {
  /** table[slot] = index of the owning instance. */
  readonly owners: OwnerTable;
}

export function buildMaglevTable(
  instances: readonly Instance[],
  weights: Float64Array,
  tableSize: number,
): MaglevTable {
  const size = nextPrime(tableSize);
  const participants: number[] = [];
  let maxWeight = 0;
  for (let i = 0; i < instances.length; i++) {
    if (weights[i] <= 0) continue;
    participants.push(i);
    if (weights[i] > maxWeight) maxWeight = weights[i];
  }
  const count = participants.length;
  const next = new Float64Array(count);
  const skip = new Float64Array(count);
  const weight = new Float64Array(count);
  const target = new Float64Array(count);
  for (let p = 0; p < count; p++) {
    const id = instances[participants[p]].id;
    next[p] = hash53(id, 0) % size;
    skip[p] = (hash53(id, 1) % (size - 1)) + 1;
    weight[p] = weights[participants[p]];
  }
  const table = new Uint32Array(size).fill(EMPTY);
  let filled = 0;
  for (let round = 1; filled < size && count > 0; round++) {
    for (let p = 0; p < count && filled < size; p++) {
      // Envoy: an instance of weight maxWeight/3 claims a slot every third round.
      if (round * weight[p] < target[p]) continue;
      target[p] += maxWeight;
      let slot = next[p];
      const step = skip[p];
      while (table[slot] !== EMPTY) {
        slot += step;
        if (slot >= size) slot -= size;
      }
      table[slot] = participants[p];
      slot += step;
      next[p] = slot >= size ? slot - size : slot;
      filled++;
    }
  }
  const owners = ownerTable(size, instances.length);
  if (count > 0) owners.set(table);
  return { owners };
}

/** The smallest prime ≥ n (config.maglev.tableSize should already be one; 65537 is). */
export function nextPrime(n: number): number {
  let candidate = Math.max(2, Math.ceil(n));
  while (!isPrime(candidate)) candidate++;
  return candidate;
}

/** Maglev needs a prime table size (NSDI 2016 §3.4); config validation asks the same question. */
export function isPrime(n: number): boolean {
  if (n < 4) return n >= 2;
  if (n % 2 === 0) return false;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

export const MAGLEV_TABLE: StateSlot<MaglevTable> = {
  name: 'maglev-table',
  build: (instances, ctx) => buildMaglevTable(instances, ctx.state(WEIGHTS).values, ctx.config.maglev.tableSize),
};

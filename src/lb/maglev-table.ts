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
import { hash53 } from './hash.js';
import type { Membership } from './membership.js';
import { ScratchBuffer } from './scratch.js';
import { runToEnd, type BuildTask } from './table-builder.js';
import type { LbConfig, TableSlot } from './types.js';
import { ownerTable, type OwnerTable } from './walk.js';

const EMPTY = 0xffffffff;
/** Two hashes of an id cost about this many slot probes. */
const HASH_COST = 4;
/** Slots copied into the owner array per step: 1,024 units at 16 slots a unit. */
const COPY_CHUNK = 16_384;
/**
 * Work units per table slot, estimated: filling slot s of M probes about M/(M−s) slots,
 * which sums to about M·ln M over the table, ~11 per slot at 65,537. The build reports
 * its real probes as it goes; the estimate only decides whether a build runs inline.
 */
export const MAGLEV_WORK_PER_SLOT = 12;

export interface MaglevTable {
  /** table[slot] = member index of the owning instance. */
  readonly owners: OwnerTable;
}

/**
 * The table, built in resumable steps (see table-builder.ts): a unit is one slot probe,
 * or a quarter of an instance's two hashes.
 */
export class MaglevBuild implements BuildTask<MaglevTable> {
  result: MaglevTable | undefined = undefined;
  private readonly size: number;
  private readonly participants: number[] = [];
  private readonly maxWeight: number;
  private readonly next: Float64Array;
  private readonly skip: Float64Array;
  private readonly weight: Float64Array;
  private readonly target: Float64Array;
  /** Work memory from `scratch`, viewed as `table`; the owner copy below is what the finished table keeps. */
  private readonly work0: ArrayBuffer;
  private readonly table: Uint32Array;
  private owners: OwnerTable | undefined = undefined;
  private copied = 0;
  private hashed = 0;
  private round = 1;
  private turn = 0;
  private filled = 0;

  constructor(
    private readonly ids: readonly string[],
    weights: Float64Array,
    tableSize: number,
    private readonly scratch: ScratchBuffer = new ScratchBuffer(0),
  ) {
    this.size = nextPrime(tableSize);
    let maxWeight = 0;
    for (let i = 0; i < ids.length; i++) {
      if (weights[i] <= 0) continue;
      this.participants.push(i);
      if (weights[i] > maxWeight) maxWeight = weights[i];
    }
    this.maxWeight = maxWeight;
    const count = this.participants.length;
    this.next = new Float64Array(count);
    this.skip = new Float64Array(count);
    this.weight = new Float64Array(count);
    for (let p = 0; p < count; p++) this.weight[p] = weights[this.participants[p]];
    this.target = new Float64Array(count);
    this.work0 = scratch.take(this.size * Uint32Array.BYTES_PER_ELEMENT);
    this.table = new Uint32Array(this.work0, 0, this.size).fill(EMPTY);
  }

  work(budget: number): number {
    const count = this.participants.length;
    let spent = 0;
    // Offset and skip: two independent hashes of the id (NSDI 2016 §3.4).
    for (; this.hashed < count && spent < budget; this.hashed++) {
      const id = this.ids[this.participants[this.hashed]];
      this.next[this.hashed] = hash53(id, 0) % this.size;
      this.skip[this.hashed] = (hash53(id, 1) % (this.size - 1)) + 1;
      spent += HASH_COST;
    }
    if (this.hashed < count) return spent;
    const { size, table, next, skip, weight, target, participants, maxWeight } = this;
    let round = this.round;
    let turn = this.turn;
    let filled = this.filled;
    while (filled < size && count > 0 && spent < budget) {
      if (turn === count) {
        turn = 0;
        round++;
      }
      const p = turn++;
      spent++;
      // Envoy: an instance of weight maxWeight/3 claims a slot every third round.
      if (round * weight[p] < target[p]) continue;
      target[p] += maxWeight;
      let slot = next[p];
      const step = skip[p];
      while (table[slot] !== EMPTY) {
        slot += step;
        if (slot >= size) slot -= size;
        spent++;
      }
      table[slot] = participants[p];
      slot += step;
      next[p] = slot >= size ? slot - size : slot;
      filled++;
    }
    this.round = round;
    this.turn = turn;
    this.filled = filled;
    if (filled < size && count > 0) return spent;
    // Into the narrowest owner array, a chunk at a time (a 5,000,011-slot copy takes milliseconds).
    this.owners ??= ownerTable(size, this.ids.length);
    const owners = this.owners;
    while (this.copied < size && spent < budget) {
      const end = Math.min(size, this.copied + COPY_CHUNK);
      if (count > 0) owners.set(table.subarray(this.copied, end), this.copied);
      spent += (end - this.copied) >>> 4;
      this.copied = end;
    }
    if (this.copied === size) {
      this.scratch.give(this.work0);
      this.result = { owners };
    }
    return spent;
  }
}

/** The whole table at once, for tests and tools; the manager builds through MAGLEV_TABLE in slices. */
export function buildMaglevTable(
  instances: readonly { id: string }[],
  weights: Float64Array,
  tableSize: number,
): MaglevTable {
  return runToEnd(
    new MaglevBuild(
      instances.map((instance) => instance.id),
      weights,
      tableSize,
    ),
  );
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

export const MAGLEV_TABLE: TableSlot<MaglevTable> = {
  name: 'maglev-table',
  estimate: (_membership: Membership, config: LbConfig) => nextPrime(config.maglev.tableSize) * MAGLEV_WORK_PER_SLOT,
  build: (membership: Membership, config: LbConfig, scratch: ScratchBuffer) =>
    new MaglevBuild(membership.ids, membership.weights, config.maglev.tableSize, scratch),
  bytes: (table: MaglevTable) => table.owners.byteLength,
};

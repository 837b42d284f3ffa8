/**
 * Per-list state: the health-filtered view of a candidate list and the small structures
 * built from it (weights, smooth weighted round-robin state, loads), keyed by
 * Candidates.key without its catalog index (service + filter). A write replaces the
 * candidate array; the entry then re-filters it and keeps its structures when the
 * instances they were built from (ids, weights, regions, in order) are the same, so a
 * note or a health flip elsewhere rebuilds nothing.
 *
 * Entries live in the manager's shared ByteLru with the rings and tables (table-store.ts):
 * bounded by count and by estimated bytes, least recently used first.
 */
import type { Instance } from '../catalog/types.js';
import type { LruEntry } from './byte-lru.js';
import { selectHealthy, type HealthMode, type HealthSelection } from './health-filter.js';
import type { Membership } from './membership.js';
import type { LoadView, StateSlot } from './types.js';

/** One counter per strategy (indexed by registration order), so strategies sharing a list do not disturb each other's rotation. */
export interface RotationCounter {
  readonly values: number[];
}

/** How a table's members map onto the instances being ordered, and back. */
export interface SelectionView {
  /** toSelected[member] = position in selection.instances, or -1. */
  readonly toSelected: Int32Array;
  /** toMember[position] = member index, or -1 when the membership lacks the instance. */
  readonly toMember: Int32Array;
}

/** One health-filtered view of a candidate list and the structures built from it. */
export interface ListVariant {
  selection: HealthSelection;
  /** The candidate array the selection was taken from; a new array means a write happened. */
  source: readonly Instance[];
  /** The panic threshold the selection was taken with (a service's config may change it). */
  threshold: number;
  readonly slots: Map<StateSlot<unknown>, unknown>;
  /** Load records aligned with selection.instances, resolved on first use. */
  loads: readonly LoadView[] | undefined;
  /** LoadTracker.generation when `loads` was resolved; a forgotten instance invalidates it. */
  loadsGeneration: number;
  /** The member mapping for `viewOf`, built on first use by a hash strategy. */
  view: SelectionView | undefined;
  viewOf: Membership | undefined;
}

/** Rough heap cost of an entry and of a variant, before their arrays. */
const ENTRY_BYTES = 200;
const VARIANT_BYTES = 120;
/** An array slot or a Float64Array element. */
const WORD = 8;

export class ListEntry implements LruEntry {
  readonly kind = 'list';
  bytes = 0;
  readonly variants: (ListVariant | undefined)[] = [undefined, undefined, undefined];
  /** Candidates.members (or instances) last seen, and its membership. */
  members: readonly Instance[] | undefined = undefined;
  membership: Membership | undefined = undefined;

  constructor(
    /** "L" + the candidates key without its catalog index. */
    readonly key: string,
    readonly rotation: RotationCounter,
  ) {}

  /** The variant for `mode` over `all`, re-filtered when `all` is a new array (a write happened). */
  variant(mode: HealthMode, all: readonly Instance[], panicThreshold: number): ListVariant {
    let variant = this.variants[mode];
    if (variant === undefined) {
      variant = {
        selection: selectHealthy(all, mode, panicThreshold),
        source: all,
        threshold: panicThreshold,
        slots: new Map(),
        loads: undefined,
        loadsGeneration: -1,
        view: undefined,
        viewOf: undefined,
      };
      this.variants[mode] = variant;
    } else if (variant.source !== all || variant.threshold !== panicThreshold) {
      const selection = selectHealthy(all, mode, panicThreshold);
      if (!sameInstances(variant.selection.instances, selection.instances)) {
        variant.slots.clear();
        variant.loads = undefined;
      }
      // Answers must carry the current objects; positions may have moved, so the view goes.
      variant.selection = selection;
      variant.source = all;
      variant.threshold = panicThreshold;
      variant.view = undefined;
      variant.viewOf = undefined;
    }
    return variant;
  }

  /** Estimated heap bytes: every array of every variant, at 8 bytes a slot (4 for views). */
  measure(): number {
    let bytes = ENTRY_BYTES + this.key.length * 2;
    for (const variant of this.variants) {
      if (variant === undefined) continue;
      const n = variant.selection.instances.length;
      bytes += VARIANT_BYTES;
      if (variant.selection.instances !== variant.source) bytes += n * WORD;
      bytes += variant.slots.size * (n * WORD + VARIANT_BYTES);
      if (variant.loads !== undefined) bytes += n * WORD;
      if (variant.view !== undefined) bytes += (variant.view.toSelected.length + variant.view.toMember.length) * 4;
    }
    return bytes;
  }
}

/** Same ids, weights and regions in the same order: what every per-list structure is built from. */
function sameInstances(before: readonly Instance[], after: readonly Instance[]): boolean {
  if (before === after) return true;
  if (before.length !== after.length) return false;
  for (let i = 0; i < before.length; i++) {
    const a = before[i];
    const b = after[i];
    if (a !== b && (a.id !== b.id || a.weight !== b.weight || a.region !== b.region)) return false;
  }
  return true;
}

/**
 * Rotation counters, kept apart from list entries and bounded by count: they must outlive
 * an evicted entry, or a busy cache would send the next query back to the first instance.
 */
export class RotationCounters {
  private readonly counters = new Map<string, RotationCounter>();

  constructor(readonly capacity: number) {}

  get(key: string): RotationCounter {
    let counter = this.counters.get(key);
    if (counter === undefined) counter = { values: [] };
    else this.counters.delete(key);
    this.counters.set(key, counter);
    if (this.counters.size > this.capacity) {
      const oldest = this.counters.keys().next();
      if (oldest.done !== true) this.counters.delete(oldest.value);
    }
    return counter;
  }

  clear(): void {
    this.counters.clear();
  }
}

/**
 * "web@42|tag=v2" → "web|tag=v2": the list's identity without the catalog index,
 * i.e. service + filter. Keys without an `@<digits>` part are used as they are.
 */
export function rotationKey(key: string): string {
  const at = key.indexOf('@');
  if (at < 0) return key;
  let end = at + 1;
  while (end < key.length && key.charCodeAt(end) >= 48 && key.charCodeAt(end) <= 57) end++;
  return end === at + 1 ? key : key.slice(0, at) + key.slice(end);
}

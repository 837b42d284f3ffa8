/**
 * The one StrategyContext a manager reuses for every query: fields are set before
 * each strategy call, so ordering allocates nothing beyond its result array.
 */
import type { Instance } from '../catalog/types.js';
import type { ListEntry, ListVariant, SelectionView } from './list-cache.js';
import type { LoadTracker } from './load-tracker.js';
import { membershipOf, type Membership } from './membership.js';
import { RendezvousOrder } from './rendezvous.js';
import type { TableStore } from './table-store.js';
import { WEIGHTS, type Weights } from './weights.js';
import type { LbConfig, LoadView, StateSlot, StrategyContext, TableSlot, TableView } from './types.js';

interface MutableTableView {
  table: unknown;
  toSelected: Int32Array;
}

export class QueryContext implements StrategyContext {
  key = '';
  service = '';
  limit = 0;
  clientIp: string | undefined = undefined;
  sessionKey: string | undefined = undefined;
  clientRegion: string | undefined = undefined;
  entry: ListEntry | undefined = undefined;
  variant: ListVariant | undefined = undefined;
  instances: readonly Instance[] = [];
  /** Candidates.members of this query (its instances when the caller gave none). */
  members: readonly Instance[] = [];
  /** Registration index of the strategy being run: selects its rotation counter. */
  strategyIndex = 0;
  /** Weights ramped by slow start for this answer; undefined when nothing is ramping. */
  rampedWeights: Weights | undefined = undefined;
  /** Set when this query built something on the list entry: the manager re-measures it. */
  grew = false;
  /** Structures built on list entries since start. */
  builds = 0;
  private readonly found: MutableTableView = { table: undefined, toSelected: new Int32Array(0) };
  private readonly rendezvousOrder = new RendezvousOrder();

  constructor(
    readonly config: Readonly<LbConfig>,
    readonly random: () => number,
    private readonly tables: TableStore,
    private readonly tracker: LoadTracker,
  ) {}

  nextRotation(): number {
    const values = this.entry!.rotation.values;
    const index = this.strategyIndex;
    while (values.length <= index) values.push(0);
    const value = values[index];
    // Doubles count exactly to 2^53; wrap long before that.
    values[index] = value >= 0x1fffffffffffff ? 0 : value + 1;
    return value;
  }

  weights(): Weights {
    return this.rampedWeights ?? this.state(WEIGHTS);
  }

  state<T>(slot: StateSlot<T>): T {
    const slots = this.variant!.slots;
    let value = slots.get(slot) as T | undefined;
    if (value === undefined) {
      value = slot.build(this.instances, this);
      slots.set(slot, value);
      this.builds++;
      this.grew = true;
    }
    return value;
  }

  table<T extends { readonly owners: ArrayLike<number> }>(slot: TableSlot<T>): TableView<T> | undefined {
    const entry = this.tables.find(slot, this.service, this.membership());
    if (entry === undefined) return undefined;
    const found = this.found;
    found.table = entry.table;
    found.toSelected = this.view(entry.membership).toSelected;
    return found as TableView<T>;
  }

  rendezvous(keyHash: number): Instance[] {
    const membership = this.membership();
    return this.rendezvousOrder.order(this.instances, this.view(membership).toMember, membership, keyHash, this.limit);
  }

  loads(): readonly LoadView[] {
    const variant = this.variant!;
    let loads = variant.loads;
    if (loads === undefined || variant.loadsGeneration !== this.tracker.generation) {
      const records: LoadView[] = new Array<LoadView>(this.instances.length);
      for (let i = 0; i < records.length; i++) records[i] = this.tracker.record(this.instances[i].id);
      variant.loads = loads = records;
      variant.loadsGeneration = this.tracker.generation;
      this.grew = true;
    }
    return loads;
  }

  /** The membership of this query's members, memoised on the list entry per members array. */
  private membership(): Membership {
    const entry = this.entry!;
    if (entry.members !== this.members || entry.membership === undefined) {
      entry.members = this.members;
      entry.membership = membershipOf(this.members);
    }
    return entry.membership;
  }

  /** How `membership`'s indices map onto this query's instances; built once per variant and membership. */
  private view(membership: Membership): SelectionView {
    const variant = this.variant!;
    if (variant.viewOf === membership && variant.view !== undefined) return variant.view;
    const instances = this.instances;
    const n = instances.length;
    const m = membership.size;
    const toSelected = new Int32Array(m).fill(-1);
    const toMember = new Int32Array(n);
    const ids = membership.ids;
    let identical = n === m;
    for (let i = 0; identical && i < n; i++) identical = instances[i].id === ids[i];
    for (let i = 0; i < n; i++) {
      const member = identical ? i : membership.indexOf(instances[i].id);
      toMember[i] = member;
      if (member >= 0) toSelected[member] = i;
    }
    const view = { toSelected, toMember };
    variant.view = view;
    variant.viewOf = membership;
    this.grew = true;
    return view;
  }
}

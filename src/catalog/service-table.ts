import { compareById, type Instance, type ServiceSummary, type ServiceView } from './types.js';

/**
 * Instances grouped by service, each group a frozen array sorted by id that is replaced,
 * never mutated, so a reader holding one keeps a consistent list. A service whose last
 * instance left keeps its index, so blocking queries on it still see the removal.
 */
export class ServiceTable {
  private readonly views = new Map<string, ServiceView>();

  get(name: string): ServiceView | undefined {
    return this.views.get(name);
  }

  load(instances: readonly Instance[], indexes: ReadonlyMap<string, number>): void {
    const grouped = new Map<string, Instance[]>();
    for (const instance of instances) {
      const list = grouped.get(instance.name);
      if (list === undefined) grouped.set(instance.name, [instance]);
      else list.push(instance);
    }
    for (const [name, index] of indexes) {
      const list = (grouped.get(name) ?? []).sort(compareById);
      this.views.set(name, { name, index, instances: Object.freeze(list) });
    }
    for (const [name, list] of grouped) {
      if (!this.views.has(name)) {
        // Only a database written outside Konsul lacks the service row; its index is the newest instance's.
        const index = highestModifyIndex(list);
        this.views.set(name, { name, index, instances: Object.freeze(list.sort(compareById)) });
      }
    }
  }

  /**
   * Collects the changes of one committed batch; commit() then rebuilds each touched service
   * once, so a batch of k writes to a service of n instances costs one copy of the list plus
   * O(k log n), not O(k·n).
   */
  /** Services that keep an index but have no instance (see tombstones.ts). */
  emptyNames(): string[] {
    const names: string[] = [];
    for (const view of this.views.values()) if (view.instances.length === 0) names.push(view.name);
    return names;
  }

  /** Drops a service that has no instance; reads of it then report the catalog's index. */
  forget(name: string): void {
    if (this.views.get(name)?.instances.length === 0) this.views.delete(name);
  }

  batch(): ServiceBatch {
    return new ServiceBatch(this.views);
  }

  summaries(): ServiceSummary[] {
    const out: ServiceSummary[] = [];
    for (const view of this.views.values()) {
      if (view.instances.length === 0) continue;
      const summary: ServiceSummary = {
        name: view.name,
        index: view.index,
        instances: view.instances.length,
        passing: 0,
        warning: 0,
        critical: 0,
      };
      for (const instance of view.instances) summary[instance.status]++;
      out.push(summary);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

interface PendingService {
  /** Ids leaving the list (removed, replaced or moved away). */
  drop: Set<string>;
  /** Instances entering it, by id; a later change in the batch wins. */
  add: Map<string, Instance>;
  /** Highest index that touched the service in the batch; null when none did. */
  index: number | null;
}

class ServiceBatch {
  private readonly pending = new Map<string, PendingService>();

  constructor(private readonly views: Map<string, ServiceView>) {}

  /** One instance in or out; `index` is null for changes that do not bump the index. */
  replace(previous: Instance | undefined, next: Instance | null, index: number | null): void {
    if (previous !== undefined) {
      const entry = this.entry(previous.name, index);
      entry.drop.add(previous.id);
      entry.add.delete(previous.id);
    }
    if (next !== null) this.entry(next.name, index).add.set(next.id, next);
  }

  /**
   * Moves a service's index without changing its instances (its config changed); a service
   * with no view yet gets an empty one, so reads and blocking queries of it report the index.
   */
  touch(name: string, index: number): void {
    this.entry(name, Math.max(index, this.views.get(name)?.index ?? 0));
  }

  commit(): void {
    for (const [name, entry] of this.pending) {
      const view = this.views.get(name);
      // Only the index moved: readers keep the same array (and whatever they cached on it).
      const instances =
        view !== undefined && entry.drop.size === 0 && entry.add.size === 0
          ? view.instances
          : applyChanges(view?.instances ?? [], entry.drop, entry.add);
      const index = entry.index ?? view?.index ?? highestModifyIndex(instances);
      this.views.set(name, { name, index, instances: Object.freeze(instances) });
    }
    this.pending.clear();
  }

  private entry(name: string, index: number | null): PendingService {
    let entry = this.pending.get(name);
    if (entry === undefined) this.pending.set(name, (entry = { drop: new Set(), add: new Map(), index: null }));
    if (index !== null) entry.index = Math.max(entry.index ?? 0, index);
    return entry;
  }
}

/**
 * `list` (sorted by id) without the ids in `drop` or `add`, with the instances of `add` in their
 * places. Binary search finds where each change lands, so the walk over the list only copies:
 * a registration into a service of thousands of instances compares a handful of ids, not all.
 */
function applyChanges(
  list: readonly Instance[],
  drop: ReadonlySet<string>,
  add: ReadonlyMap<string, Instance>,
): Instance[] {
  const removed: number[] = [];
  for (const id of drop) {
    const at = lowerBound(list, id);
    if (at < list.length && list[at].id === id) removed.push(at);
  }
  const added = [...add.values()].sort(compareById);
  const insertAt = added.map((instance) => {
    const at = lowerBound(list, instance.id);
    // A replacement takes its predecessor's place, which is dropped.
    if (at < list.length && list[at].id === instance.id && !drop.has(instance.id)) removed.push(at);
    return at;
  });
  removed.sort((a, b) => a - b);
  const out: Instance[] = new Array<Instance>(list.length - removed.length + added.length);
  let written = 0;
  let nextRemoved = 0;
  let nextAdded = 0;
  for (let i = 0; i < list.length; i++) {
    while (nextAdded < added.length && insertAt[nextAdded] === i) out[written++] = added[nextAdded++];
    if (nextRemoved < removed.length && removed[nextRemoved] === i) {
      nextRemoved++;
      continue;
    }
    out[written++] = list[i];
  }
  while (nextAdded < added.length) out[written++] = added[nextAdded++];
  return out;
}

/** The first position in `list` (sorted by id) whose id is not below `id`. */
function lowerBound(list: readonly Instance[], id: string): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (list[middle].id < id) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** A loop, not Math.max(...list): spreading a service of 100,000+ instances overflows the stack. */
function highestModifyIndex(instances: readonly Instance[]): number {
  let highest = 0;
  for (const instance of instances) if (instance.modifyIndex > highest) highest = instance.modifyIndex;
  return highest;
}

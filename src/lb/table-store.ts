/**
 * Rings and Maglev tables, cached by what they are built from: the table kind, the
 * service and the membership's ids and weights (membership.ts). Not by catalog index, not
 * by filter, not by health: a note, a meta edit or a health flip finds the same table,
 * and every tag/meta filter of a service shares it (the walk skips what the query filtered
 * out). Entries share the manager's ByteLru with per-list state.
 *
 * A missing table is built by the TableBuilder: inline when it fits one slice, otherwise in
 * slices after the query. Meanwhile the service's last table (an earlier membership) serves,
 * and when there is none the strategy answers by rendezvous hashing.
 */
import type { ByteLru, LruEntry } from './byte-lru.js';
import type { Membership } from './membership.js';
import { ScratchBuffer } from './scratch.js';
import type { TableBuilder } from './table-builder.js';
import type { LbConfig, TableSlot } from './types.js';

export class TableEntry implements LruEntry {
  readonly kind = 'table';

  constructor(
    readonly key: string,
    /** Table kind + service: the entry the service falls back on while a newer one builds. */
    readonly group: string,
    readonly membership: Membership,
    /** Dropped on eviction, so a reference left in a Membership memo holds no table. */
    public table: unknown,
    public bytes: number,
  ) {}
}

/** What the shared cache holds; list entries are defined in list-cache.ts. */
export interface CacheMember extends LruEntry {
  readonly kind: 'list' | 'table';
}

export class TableStore {
  /** Newest table per group: the fallback while the current membership's table is built. */
  private readonly latest = new Map<string, TableEntry>();
  /** Work memory shared by the builds (see scratch.ts). */
  readonly scratch = new ScratchBuffer();
  builds = 0;

  constructor(
    private readonly lru: ByteLru<CacheMember>,
    private readonly builder: TableBuilder,
    private readonly config: LbConfig,
  ) {}

  /**
   * The table for `membership`, or else the service's newest table for another membership,
   * or undefined. Starts a build when the membership's own table is missing.
   */
  find<T extends { readonly owners: ArrayLike<number> }>(
    slot: TableSlot<T>,
    service: string,
    membership: Membership,
  ): TableEntry | undefined {
    const memo = membership.tables.get(slot.name);
    if (memo !== undefined && memo.table !== undefined) {
      this.lru.get(memo.key);
      return memo;
    }
    const key = `T${slot.name}\u0000${service}\u0000${membership.signature}`;
    const cached = this.lru.get(key);
    if (cached instanceof TableEntry && cached.table !== undefined && cached.membership.sameAs(membership)) {
      membership.tables.set(slot.name, cached);
      return cached;
    }
    const group = `${slot.name}\u0000${service}`;
    this.builder.build(
      key,
      group,
      slot.estimate(membership, this.config),
      () => slot.build(membership, this.config, this.scratch),
      (table) => this.install(slot.name, key, group, membership, table, slot.bytes(table)),
    );
    const built = membership.tables.get(slot.name);
    if (built !== undefined && built.table !== undefined) return built;
    return this.latest.get(group);
  }

  /** Called by the ByteLru when it drops a table. */
  evicted(entry: TableEntry): void {
    entry.table = undefined;
    if (this.latest.get(entry.group) === entry) this.latest.delete(entry.group);
  }

  clear(): void {
    this.latest.clear();
  }

  private install(
    name: string,
    key: string,
    group: string,
    membership: Membership,
    table: unknown,
    bytes: number,
  ): void {
    const entry = new TableEntry(key, group, membership, table, bytes + membership.bytes);
    this.lru.set(entry);
    this.latest.set(group, entry);
    membership.tables.set(name, entry);
    this.builds++;
  }
}

import { systemClock, unrefTimer, type Clock, type TimerHandle } from '../clock.js';
import { Errors, KonsulError } from '../errors.js';
import { buildInstance, normalizeRegistration, type CheckDefaults } from './registration.js';
import {
  isReplicated,
  StorageError,
  type AnyCatalogStore,
  type CatalogWrite,
  type ClusterView,
  type ReplicaChange,
  type ReplicatedStore,
  type StoreContact,
  type WriteExpectation,
  type WriteFence,
} from './store.js';
import { ServiceTable } from './service-table.js';
import { Tombstones } from './tombstones.js';
import { ANY, WatchSet } from './watch.js';
import {
  compareById,
  worstStatus,
  type Check,
  type Exclusion,
  type HealthStatus,
  type Instance,
  type Maintenance,
  type Registration,
  type ServiceConfig,
  type ServiceConfigEntry,
  type ServiceSummary,
  type ServiceView,
} from './types.js';

export interface CatalogOptions {
  checkDefaults: CheckDefaults;
  /** Blocking queries held at once; one more is refused with 429. */
  maxWaiters?: number;
  /** Where an exception thrown by a subscriber goes; by default it is rethrown on its own tick. */
  onListenerError?: (error: unknown) => void;
  /** Told when commits start failing (with why) and when one succeeds again (null). */
  onStorageHealth?: (failure: StorageFailure | null) => void;
  /** How long a service with no instances keeps its index before it is forgotten; 15 min by default. */
  tombstoneTtlMs?: number;
  /** How often a failing store is tried again when nothing else writes; 1 s by default. */
  storageRetryMs?: number;
  /** Injectable clock, epoch ms (timers stay the process's own: see `clock`). */
  now?: () => number;
  /**
   * Injectable clock and timers (the tombstone sweep, the storage retry, blocking-query timeouts,
   * the catch-up wait of a replicated store), for a virtual clock in tests; takes precedence over `now`.
   */
  clock?: Clock;
  /**
   * Replicated stores only: how long a committed write waits for this node's view to show it
   * before the writer gets 503 (the write stays committed). Default 5 s.
   */
  catchUpTimeoutMs?: number;
  /**
   * Replicated stores only: when writes are already queued as a transaction's writes are
   * answered, how long the next transaction waits for the writers just answered to send again
   * (it goes as soon as they have, or when this runs out). 0 (the default) sends it at once.
   */
  commitLingerMs?: number;
}

/** How often a replicated write is computed again after another node changed what it read. */
const MAX_CONFLICT_RETRIES = 16;

/** Why the store refuses writes, since when (epoch ms). */
export interface StorageFailure {
  message: string;
  /** The same without the data file's path: what a client may be told. */
  detail: string;
  since: number;
}

/** What /metrics and readiness report about the store. */
export interface StorageHealth {
  failure: StorageFailure | null;
  failedCommits: number;
  /** Check results served from memory that the store has not taken yet (at most one per check). */
  unpersisted: number;
}

export type CatalogEvent =
  | { kind: 'registered'; index: number; instance: Instance; previous: Instance | undefined }
  | { kind: 'deregistered'; index: number; instance: Instance }
  | { kind: 'check-updated'; index: number | null; instance: Instance; check: Check; previousStatus: HealthStatus }
  | { kind: 'services-forgotten'; index: number; names: readonly string[] }
  | { kind: 'service-configured'; index: number; name: string; config: ServiceConfig | null };

export interface QueryFilter {
  name?: string | undefined;
  /** Every tag must be present. */
  tags?: readonly string[] | undefined;
  /** Every key must have exactly this value. */
  meta?: Readonly<Record<string, string>> | undefined;
}

/** What one catalog query matched, shaped for the strategy manager. */
export interface QueryResult {
  index: number;
  /** Same key ⇒ same instances: service, the index that produced them and the filter. */
  key: string;
  service: string;
  instances: readonly Instance[];
  /** Every instance of the service (of the catalog without a name), before the tag/meta filter. */
  members: readonly Instance[];
}

export interface WriteResult {
  id: string;
  index: number;
}

/** How a health check's own write is made (the HTTP faces pass none of this). */
export interface CheckWriteOptions {
  /** Shared stores only: the write commits only while this node is still the member it joined as. */
  fence?: WriteFence | undefined;
  /** Write a new note even with the status unchanged (a cluster shares notes only through the store). */
  writeOutput?: boolean | undefined;
}

/** A mutation computed against the staged state; `write` is absent for in-memory-only changes. */
interface Outcome<R> {
  id: string;
  instance: Instance | null;
  previous: Instance | undefined;
  /** Services to drop from the table (tombstones reaped); no instance is touched then. */
  forgotten?: readonly string[];
  /** A service's config set (entry) or removed (null); no instance is touched then. */
  config?: { name: string; entry: ServiceConfigEntry | null };
  write?: CatalogWrite;
  /** A check's own write: refused, not retried, once its writer lost its membership. */
  fence?: WriteFence | undefined;
  /** The check a fenced write is for, to name in the refusal. */
  checkId?: string;
  event: CatalogEvent;
  /** The value the writer gets, given the index the write committed at (the store's, when replicated). */
  result: (committedIndex: number) => R;
}

interface Accepted {
  op: PendingOp;
  outcome: Outcome<unknown>;
}

interface PendingOp {
  mutate: (stage: Stage) => Outcome<unknown> | null;
  /**
   * A check result: what a check observed is served even when the store refuses it, and stored
   * once the store takes writes again. Registrations and removals are only ever acknowledged
   * after their commit.
   */
  liveWhenUnstored: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * The catalog: the live view every read is served from, and the only path by which anything
 * is written. Writes queue and are committed together (group commit): one durable transaction
 * per turn of the event loop, whatever the number of concurrent writers, and each write is
 * acknowledged only after that transaction is durable. Every write gets its own index.
 */
export class Catalog {
  private readonly byId = new Map<string, Instance>();
  private readonly checkOwners = new Map<string, string>();
  private readonly configs = new Map<string, ServiceConfigEntry>();
  private readonly services = new ServiceTable();
  private readonly watchers: WatchSet;
  private readonly listeners = new Set<(event: CatalogEvent) => void>();
  private readonly now: () => number;
  private readonly clock: Clock;
  private readonly maxWaiters: number;
  private readonly reportListenerError: (error: unknown) => void;
  private pending: PendingOp[] = [];
  private flushing: Promise<void> | null = null;
  /** Writes queued since the catalog opened: what tells how many arrived since a batch was answered. */
  private enqueued = 0;
  /** Writes in the last replicated batch: the writers a lingering flush waits for. */
  private lastBatchSize = 0;
  /** `enqueued` when the last replicated batch's writes were answered; null until they are. */
  private answeredAt: number | null = null;
  /** A replicated flush waiting (commitLingerMs) for the answered writers to send again. */
  private lingerTimer: TimerHandle | null = null;
  private closed = false;
  private draining = false;
  /** Cache of everyInstance(); cleared whenever a batch changes anything, notes included. */
  private allSorted: readonly Instance[] | null = null;
  private currentIndex = 0;
  /** Writers waiting for the replicated view to reach the index their write committed at. */
  private indexWaiters: { index: number; resolve: () => void; reject: (error: Error) => void }[] = [];
  private readonly tombstones = new Tombstones();
  private readonly tombstoneTtlMs: number;
  private sweepTimer: TimerHandle | null = null;
  private readonly storageRetryMs: number;
  private retryTimer: TimerHandle | null = null;
  private storageFailure: StorageFailure | null = null;
  private failedCommits = 0;
  /** Check results applied in memory but refused by the store, latest per check, in index order. */
  private readonly unpersisted = new Map<string, CatalogWrite>();

  private constructor(
    private readonly store: AnyCatalogStore,
    private readonly options: CatalogOptions,
  ) {
    this.clock = options.clock ?? (options.now === undefined ? systemClock : { ...systemClock, now: options.now });
    this.now = this.clock.now;
    this.watchers = new WatchSet(this.clock);
    this.maxWaiters = options.maxWaiters ?? 20_000;
    this.tombstoneTtlMs = options.tombstoneTtlMs ?? 15 * 60_000;
    this.storageRetryMs = options.storageRetryMs ?? 1000;
    this.reportListenerError =
      options.onListenerError ??
      ((error) =>
        queueMicrotask(() => {
          throw error;
        }));
  }

  static async open(store: AnyCatalogStore, options: CatalogOptions): Promise<Catalog> {
    const catalog = new Catalog(store, options);
    if (isReplicated(store)) {
      await store.follow({
        reset: (index, instances, configs) => catalog.resetReplica(index, instances, configs),
        apply: (index, changes) => catalog.applyReplica(index, changes, index),
        progress: (index) => catalog.advance(index),
      });
    } else {
      const snapshot = await store.load();
      // An empty catalog already reports index 1 (0 would make clients never block), so the
      // first write must be 2: a watcher holding index 1 has to see it.
      catalog.currentIndex = Math.max(snapshot.index, 1);
      for (const instance of snapshot.instances) {
        catalog.byId.set(instance.id, instance);
        for (const check of instance.checks) catalog.checkOwners.set(check.id, instance.id);
      }
      catalog.services.load(snapshot.instances, snapshot.serviceIndexes);
      for (const entry of snapshot.serviceConfigs) catalog.configs.set(entry.name, entry);
      // When they emptied is not stored: their grace period starts again at start-up.
      const loadedAt = catalog.now();
      for (const name of catalog.services.emptyNames()) catalog.tombstones.mark(name, loadedAt);
    }
    catalog.armSweep();
    return catalog;
  }

  /** Reaping is cheap and not urgent: a sweep every 30 s (or every ttl, if shorter) is plenty. */
  private armSweep(): void {
    // Armed again before the reap, as setInterval would: the schedule does not drift with it.
    this.sweepTimer = this.clock.setTimeout(
      () => {
        if (this.closed) return;
        this.armSweep();
        void this.reapTombstones().catch(() => undefined);
      },
      Math.min(this.tombstoneTtlMs, 30_000),
    );
    unrefTimer(this.sweepTimer);
  }

  get location(): string {
    return this.store.location;
  }

  /**
   * How current this node's view is. A local store is always current; a shared store reports
   * whether it has heard from etcd (with a leader) lately.
   */
  contact(): StoreContact {
    if (isReplicated(this.store)) return this.store.contact();
    return { knownLeader: true, lastContactMs: 0, storeRevision: this.currentIndex, viewRevision: this.currentIndex };
  }

  /** The cluster this node is part of; null on a local store. */
  cluster(): ClusterView | null {
    return isReplicated(this.store) ? this.store.cluster() : null;
  }

  /** Whether the catalog lives in a store shared with other Konsul nodes. */
  get replicated(): boolean {
    return isReplicated(this.store);
  }

  /** The highest index committed. */
  get index(): number {
    return this.currentIndex;
  }

  get waiting(): number {
    return this.watchers.size;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /**
   * Always clear over a shared store: etcd's refusals reach the writer as 503 and nothing is
   * kept unstored (see docs/cluster.md); contact() tells how current the view is instead.
   */
  get storage(): StorageHealth {
    return { failure: this.storageFailure, failedCommits: this.failedCommits, unpersisted: this.unpersisted.size };
  }

  /** Services with no instance whose index is still kept. */
  get tombstoneCount(): number {
    return this.tombstones.size;
  }

  // ---- reads -------------------------------------------------------------------------------

  instance(id: string): Instance | undefined {
    return this.byId.get(id);
  }

  allInstances(): IterableIterator<Instance> {
    return this.byId.values();
  }

  get instanceCount(): number {
    return this.byId.size;
  }

  findCheck(checkId: string): { instance: Instance; check: Check } | undefined {
    const owner = this.checkOwners.get(checkId);
    const instance = owner === undefined ? undefined : this.byId.get(owner);
    const check = instance?.checks.find((candidate) => candidate.id === checkId);
    return instance === undefined || check === undefined ? undefined : { instance, check };
  }

  service(name: string): ServiceView | undefined {
    return this.services.get(name.toLowerCase());
  }

  /** The index a read of one service reports: its own, or the catalog's when it never existed. */
  serviceIndex(name: string | undefined): number {
    if (name === undefined) return Math.max(this.currentIndex, 1);
    return Math.max(this.services.get(name.toLowerCase())?.index ?? this.currentIndex, 1);
  }

  /** The service's operator config, or undefined when none is set. */
  serviceConfig(name: string): ServiceConfigEntry | undefined {
    return this.configs.get(name.toLowerCase());
  }

  /** Every service config, by name. */
  serviceConfigs(): ServiceConfigEntry[] {
    return [...this.configs.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** How many instances are held in maintenance, per service (for metrics). */
  maintenanceCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const instance of this.byId.values())
      if (instance.maintenance !== undefined) counts.set(instance.name, (counts.get(instance.name) ?? 0) + 1);
    return counts;
  }

  /** Services that have at least one instance, by name. */
  summaries(): ServiceSummary[] {
    return this.services.summaries();
  }

  /**
   * The instances of a service (or of the catalog) that pass the tag and meta filter. Given
   * `excluded`, appends each instance the filter leaves out, with the filter that did it
   * (an `explain` query); the answer is the same either way.
   */
  query(filter: QueryFilter, excluded?: Exclusion[]): QueryResult {
    // Repeating a tag changes nothing, so it must not make a new key (and a new ring).
    const tags = filter.tags === undefined ? [] : [...new Set(filter.tags)];
    const metaEntries = Object.entries(filter.meta ?? {});
    const name = filter.name?.toLowerCase();
    const source = name === undefined ? this.everyInstance() : (this.services.get(name)?.instances ?? []);
    const instances =
      tags.length === 0 && metaEntries.length === 0 ? source : matching(source, tags, metaEntries, excluded);
    const index = this.serviceIndex(name);
    const filterKey =
      tags.length === 0 && metaEntries.length === 0 ? '' : `|${JSON.stringify([[...tags].sort(), metaEntries.sort()])}`;
    return { index, key: `${name ?? ANY}@${index}${filterKey}`, service: name ?? ANY, instances, members: source };
  }

  /** Every instance sorted by id, built at most once per committed batch. */
  private everyInstance(): readonly Instance[] {
    this.allSorted ??= Object.freeze([...this.byId.values()].sort(compareById));
    return this.allSorted;
  }

  /**
   * Resolves once the index of `name` (or of the whole catalog) is above `afterIndex`, or when
   * the timeout passes, or at shutdown. No polling: commits wake the waiters they concern.
   */
  async waitForChange(
    name: string | undefined,
    afterIndex: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const key = name?.toLowerCase() ?? ANY;
    const deadline = this.now() + timeoutMs;
    while (!this.draining && this.serviceIndex(key === ANY ? undefined : key) <= afterIndex) {
      const remaining = deadline - this.now();
      if (remaining <= 0) return;
      if (this.watchers.size >= this.maxWaiters) throw Errors.tooManyWatchers(this.maxWaiters);
      if (!(await this.watchers.wait(key, remaining, signal))) return;
    }
  }

  /** Answers every blocking query now and every later one at once: the first step of shutdown. */
  releaseWaiters(): void {
    this.draining = true;
    this.watchers.releaseAll();
  }

  /** Called after every committed change, in commit order. Returns the unsubscribe function. */
  subscribe(listener: (event: CatalogEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- writes ------------------------------------------------------------------------------

  async register(registration: Registration): Promise<WriteResult & { instance: Instance }> {
    const normalized = normalizeRegistration(registration, this.options.checkDefaults);
    return this.enqueue((stage) => {
      const previous = stage.instance(normalized.id);
      for (const { definition } of normalized.checks) {
        const owner = stage.checkOwner(definition.id);
        if (owner !== undefined && owner !== normalized.id) throw Errors.checkIdTaken(definition.id, owner);
      }
      const index = stage.nextIndex();
      const instance = buildInstance(normalized, previous, index, this.now(), worstStatus);
      stage.put(instance, previous);
      const previousName = previous !== undefined && previous.name !== instance.name ? previous.name : undefined;
      return {
        id: instance.id,
        instance,
        previous,
        write: { kind: 'upsert', index, instance, ...(previousName === undefined ? {} : { previousName }) },
        event: { kind: 'registered', index, instance, previous },
        result: (committed) => ({
          id: instance.id,
          index: committed,
          instance: { ...instance, createIndex: previous?.createIndex ?? committed, modifyIndex: committed },
        }),
      };
    });
  }

  /** Removes an instance; `fence` (deregisterCriticalAfter in a cluster) as in CheckWriteOptions. */
  deregister(id: string, fence?: WriteFence): Promise<WriteResult> {
    return this.enqueue((stage) => {
      const previous = stage.instance(id);
      if (previous === undefined) throw Errors.instanceNotFound(id);
      const index = stage.nextIndex();
      stage.remove(previous);
      return {
        id,
        instance: null,
        previous,
        fence,
        checkId: previous.checks[0]?.id ?? id,
        write: { kind: 'delete', index, id, name: previous.name },
        event: { kind: 'deregistered', index, instance: previous },
        result: (committed) => ({ id, index: committed }),
      };
    });
  }

  /**
   * Sets (config) or removes (null) a service's operator config. A write with its own index
   * that also moves the service's index, so blocking queries and DNS answers see it. Removing
   * a config that is not there is 404 and writes nothing.
   */
  configureService(name: string, config: ServiceConfig | null): Promise<{ name: string; index: number }> {
    const service = name.toLowerCase();
    return this.enqueue((stage) => {
      if (config === null && stage.config(service) === undefined) throw Errors.serviceConfigNotFound(service);
      const index = stage.nextIndex();
      const entry = config === null ? null : { name: service, config, modifyIndex: index };
      stage.putConfig(service, entry);
      return {
        id: `config:${service}`,
        instance: null,
        previous: undefined,
        config: { name: service, entry },
        write: { kind: 'service-config', index, name: service, config },
        event: { kind: 'service-configured', index, name: service, config },
        result: (committed) => ({ name: service, index: committed }),
      };
    });
  }

  /**
   * Puts an instance in maintenance (with why) or takes it out (null). A write like a
   * registration: it survives restarts and moves the service's index. Setting what is already
   * set (the same reason) changes nothing and resolves to the instance's current index.
   */
  async setMaintenance(id: string, reason: string | null): Promise<WriteResult & { maintenance: Maintenance | null }> {
    const written = await this.enqueue<(WriteResult & { maintenance: Maintenance | null }) | null>((stage) => {
      const previous = stage.instance(id);
      if (previous === undefined) throw Errors.instanceNotFound(id);
      const unchanged = reason === null ? previous.maintenance === undefined : previous.maintenance?.reason === reason;
      if (unchanged) return null;
      const index = stage.nextIndex();
      const { maintenance: _dropped, ...rest } = previous;
      const maintenance: Maintenance | null = reason === null ? null : { reason, since: this.now() };
      const instance: Instance = {
        ...rest,
        ...(maintenance === null ? {} : { maintenance }),
        modifyIndex: index,
      };
      stage.put(instance, previous);
      return {
        id,
        instance,
        previous,
        write: { kind: 'upsert', index, instance },
        event: { kind: 'registered', index, instance, previous },
        result: (committed) => ({ id, index: committed, maintenance }),
      };
    });
    if (written !== null) return written;
    const current = this.byId.get(id);
    if (current === undefined) throw Errors.instanceNotFound(id);
    return { id, index: current.modifyIndex, maintenance: current.maintenance ?? null };
  }

  /**
   * Records a check result. A status change is a write (new index, wakes blocking queries,
   * survives restart); a new note with the same status only updates the live view, so noisy
   * output does not wake every watcher (unless `options.writeOutput`). An unchanged result does
   * nothing. Resolves to the index written, or null when nothing was written.
   */
  updateCheck(
    checkId: string,
    status: HealthStatus,
    note: string,
    options: CheckWriteOptions = {},
  ): Promise<number | null> {
    return this.enqueue<number | null>((stage) => {
      const owner = stage.checkOwner(checkId);
      const previous = owner === undefined ? undefined : stage.instance(owner);
      const current = previous?.checks.find((check) => check.id === checkId);
      if (previous === undefined || current === undefined) throw Errors.checkNotFound(checkId);
      if (current.status === status && current.note === note) return null;
      const statusChanged = current.status !== status;
      const index = statusChanged || options.writeOutput === true ? stage.nextIndex() : null;
      const check: Check = {
        ...current,
        status,
        note,
        statusChangedAt: statusChanged ? this.now() : current.statusChangedAt,
      };
      const checks = previous.checks.map((candidate) => (candidate.id === checkId ? check : candidate));
      const instance: Instance = {
        ...previous,
        checks,
        status: worstStatus(checks),
        modifyIndex: index ?? previous.modifyIndex,
      };
      stage.put(instance, previous);
      return {
        id: instance.id,
        instance,
        previous,
        fence: options.fence,
        checkId,
        ...(index === null
          ? {}
          : {
              write: {
                kind: 'check-status',
                index,
                checkId,
                instanceId: instance.id,
                name: instance.name,
                status,
                note,
                statusChangedAt: check.statusChangedAt,
              },
            }),
        event: { kind: 'check-updated', index, instance, check, previousStatus: current.status },
        result: (committed) => (index === null ? null : committed),
      };
    }, true);
  }

  /**
   * Forgets services that have had no instance for the tombstone TTL: their row, their index
   * and (through the services-forgotten event) what the faces keep per service. This is a write
   * with its own index, so a blocking query still held on such a service wakes and reads the
   * catalog's index, which is above anything the service ever reported: a watcher sees at most
   * a spurious wake-up, never an index going backwards or a missed change. Resolves to how many
   * services were forgotten.
   */
  async reapTombstones(): Promise<number> {
    if (isReplicated(this.store)) return this.forgetReplicaTombstones();
    let forgotten = 0;
    for (;;) {
      const due = this.tombstones.due(this.now() - this.tombstoneTtlMs, 1000);
      if (due.length === 0 || this.closed) return forgotten;
      const reaped = await this.enqueue<readonly string[] | null>((stage) => {
        // Re-checked at commit time: an instance may have arrived since the name was marked.
        const names = due.filter(
          (name) => this.services.get(name)?.instances.length === 0 && !stage.hasInstanceNamed(name),
        );
        for (const name of due) {
          const view = this.services.get(name);
          if (view === undefined || view.instances.length > 0) this.tombstones.clear(name);
        }
        if (names.length === 0) return null;
        const index = stage.nextIndex();
        return {
          id: '',
          instance: null,
          previous: undefined,
          forgotten: names,
          write: { kind: 'forget-services', index, names },
          event: { kind: 'services-forgotten', index, names },
          result: () => names,
        };
      });
      forgotten += reaped?.length ?? 0;
    }
  }

  /** Stops taking writes, waits for queued ones, releases blocking queries and closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopLinger();
    if (this.sweepTimer !== null) this.clock.clearTimeout(this.sweepTimer);
    if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
    this.releaseWaiters();
    // With check results still unstored, flush() makes one last attempt to store them.
    while (this.flushing !== null || this.pending.length > 0) await (this.flushing ?? this.flush());
    if (this.unpersisted.size > 0) await this.flush();
    for (const waiter of this.indexWaiters.splice(0)) waiter.reject(Errors.shuttingDown());
    await this.store.close();
  }

  private enqueue<R>(mutate: (stage: Stage) => Outcome<R> | null, liveWhenUnstored = false): Promise<R> {
    if (this.closed) return Promise.reject(Errors.shuttingDown());
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ mutate, liveWhenUnstored, resolve: resolve as (value: unknown) => void, reject });
      this.enqueued++;
      if (this.lingerTimer !== null) {
        if (this.answeredWritersBack()) this.flushSoon();
      } else if (this.pending.length === 1 && this.flushing === null) setImmediate(() => void this.flush());
    });
  }

  private flush(): Promise<void> {
    if (this.flushing !== null) return this.flushing;
    this.stopLinger();
    // With nothing queued, a flush is a retry of a failing store (unstored results, or a probe).
    if (this.pending.length === 0 && this.storageFailure === null) return Promise.resolve();
    this.flushing = this.commitPending().finally(() => {
      this.flushing = null;
      if (this.pending.length > 0) this.flushNext();
    });
    return this.flushing;
  }

  /**
   * Group commit over a shared store: the writes queued while a transaction was on its way go
   * in the next one, and the writers that transaction just answered (say 16 clients, each
   * sending its next write once answered) come back a moment later. Sent at once, the next
   * transaction would take only those queued, the answered ones would wait for the one after,
   * and the writers would settle into two alternating halves, each transaction half as large
   * as it could be: twice the transactions, each with a fixed cost on every etcd member and on
   * every node's watch. So with commitLingerMs set, the next transaction waits until as many
   * writes have arrived since the last ones were answered as were answered, at most that long.
   */
  private flushNext(): void {
    const lingerMs = this.options.commitLingerMs ?? 0;
    if (!isReplicated(this.store) || lingerMs <= 0 || this.closed || this.answeredWritersBack()) {
      setImmediate(() => void this.flush());
      return;
    }
    this.lingerTimer = this.clock.setTimeout(() => this.flushSoon(), lingerMs);
  }

  private answeredWritersBack(): boolean {
    return this.answeredAt === null || this.enqueued - this.answeredAt >= this.lastBatchSize;
  }

  private flushSoon(): void {
    this.stopLinger();
    setImmediate(() => void this.flush());
  }

  private stopLinger(): void {
    if (this.lingerTimer === null) return;
    this.clock.clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
  }

  private async commitPending(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (isReplicated(this.store)) {
      const store = this.store;
      this.lastBatchSize = batch.length;
      this.answeredAt = null;
      await this.commitReplicated(store, batch);
      return;
    }
    const accepted = this.stageAll(batch);
    const writes = accepted.flatMap(({ outcome }) => (outcome.write === undefined ? [] : [outcome.write]));
    // Unstored check results go first: their indexes are below every write staged since.
    const stored = this.unpersisted.size === 0 ? writes : [...this.unpersisted.values(), ...writes];
    try {
      if (stored.length > 0) await this.store.commit(stored);
      else if (this.storageFailure !== null) await this.store.probe();
    } catch (error) {
      this.storageFailed(error);
      const failure = error instanceof KonsulError ? error : Errors.storageUnavailable(this.storageFailure!.detail);
      const live: PendingOp[] = [];
      for (const { op } of accepted) {
        if (op.liveWhenUnstored) live.push(op);
        else op.reject(failure);
      }
      // Staged again without the refused registrations and removals they may have followed.
      const observed = this.stageAll(live);
      for (const { outcome } of observed) {
        const write = outcome.write;
        if (write?.kind !== 'check-status') continue;
        this.unpersisted.delete(write.checkId);
        this.unpersisted.set(write.checkId, write);
      }
      this.publish(observed);
      return;
    }
    this.unpersisted.clear();
    if (this.storageFailure !== null) this.storageRecovered();
    this.publish(accepted);
  }

  /** Runs each queued mutation against one stage laid over the live view; rejects those that throw. */
  private stageAll(batch: readonly PendingOp[]): { op: PendingOp; outcome: Outcome<unknown> }[] {
    const stage = new Stage(this.byId, this.checkOwners, this.configs, this.currentIndex);
    const accepted: { op: PendingOp; outcome: Outcome<unknown> }[] = [];
    for (const op of batch) {
      try {
        const outcome = op.mutate(stage);
        if (outcome === null) op.resolve(null);
        else accepted.push({ op, outcome });
      } catch (error) {
        op.reject(error);
      }
    }
    return accepted;
  }

  /** Makes staged outcomes the live view, wakes watchers, acknowledges and tells listeners. */
  private publish(accepted: readonly { op: PendingOp; outcome: Outcome<unknown> }[]): void {
    const touched = new Set<string>();
    const changes = this.services.batch();
    if (accepted.length > 0) this.allSorted = null;
    for (const { outcome } of accepted) {
      if (outcome.forgotten !== undefined) {
        for (const name of outcome.forgotten) {
          this.services.forget(name);
          this.tombstones.clear(name);
          touched.add(name);
        }
      } else if (outcome.config !== undefined) {
        this.applyConfig(outcome.config.name, outcome.config.entry);
        changes.touch(outcome.config.name, outcome.write!.index);
        touched.add(outcome.config.name);
      } else {
        this.apply(outcome.id, outcome.previous, outcome.instance);
        changes.replace(outcome.previous, outcome.instance, outcome.write?.index ?? null);
      }
      if (outcome.write !== undefined) {
        this.currentIndex = outcome.write.index;
        if (outcome.instance !== null) touched.add(outcome.instance.name);
        if (outcome.previous !== undefined) touched.add(outcome.previous.name);
      }
    }
    changes.commit();
    this.markTombstones(touched);
    if (touched.size > 0) this.watchers.notify(touched);
    for (const { op, outcome } of accepted) op.resolve(outcome.result(outcome.write?.index ?? this.currentIndex));
    // The writes are durable and acknowledged whatever a listener does; a listener that throws
    // is a bug to surface, not a reason to strand the rest of the batch.
    for (const { outcome } of accepted) this.tell(outcome.event);
  }

  /** Services left with no instance start their grace period; those with instances again leave it. */
  private markTombstones(names: Iterable<string>): void {
    const at = this.now();
    for (const name of names) {
      const view = this.services.get(name);
      if (view === undefined) continue;
      if (view.instances.length === 0) this.tombstones.mark(name, at);
      else this.tombstones.clear(name);
    }
  }

  private tell(event: CatalogEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.reportListenerError(error);
      }
    }
  }

  private storageFailed(error: unknown): void {
    this.failedCommits++;
    if (this.storageFailure === null) {
      this.storageFailure = {
        message: error instanceof Error ? error.message : String(error),
        detail: error instanceof StorageError ? error.detail : error instanceof Error ? error.message : String(error),
        since: this.now(),
      };
      this.options.onStorageHealth?.(this.storageFailure);
    }
    // Nothing else may write for a while (steady checks record nothing), so try again on a timer.
    if (this.retryTimer === null && !this.closed) {
      this.retryTimer = this.clock.setTimeout(() => {
        this.retryTimer = null;
        void this.flush();
      }, this.storageRetryMs);
      unrefTimer(this.retryTimer);
    }
  }

  private storageRecovered(): void {
    this.storageFailure = null;
    if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.options.onStorageHealth?.(null);
  }

  // ---- replicated store -------------------------------------------------------------------

  /**
   * Writes through a shared store. Each is computed against this node's view and committed only
   * if the store still holds what it was computed from (revision compares: two nodes racing on
   * one id or check id cannot both win), then acknowledged once this node's view shows it. The
   * writes of one batch that touch distinct keys share a transaction (one etcd round trip and
   * one revision for many registrations); a write refused because another node got there first
   * is computed again once the view has caught up with what beat it.
   */
  private async commitReplicated(store: ReplicatedStore, batch: readonly PendingOp[]): Promise<void> {
    const conflicts = new Map<PendingOp, number>();
    let round = batch;
    while (round.length > 0) {
      const keys = new Set<string>();
      const group: Accepted[] = [];
      const next: PendingOp[] = [];
      for (const op of round) {
        let outcome: Outcome<unknown> | null;
        try {
          outcome = op.mutate(new Stage(this.byId, this.checkOwners, this.configs, this.currentIndex));
        } catch (error) {
          op.reject(error);
          continue;
        }
        if (outcome === null) {
          op.resolve(null);
        } else if (outcome.write === undefined) {
          // A note without a status change is not written (see updateCheck); it only refreshes this view.
          this.publish([{ op, outcome }]);
        } else {
          const touched = keysTouched(outcome);
          // One transaction may not write a key twice: the second write waits for the next round.
          if (touched.some((key) => keys.has(key))) next.push(op);
          else {
            for (const key of touched) keys.add(key);
            group.push({ op, outcome });
          }
        }
      }
      for (const op of await this.commitGroup(store, group)) {
        const tries = (conflicts.get(op) ?? 0) + 1;
        conflicts.set(op, tries);
        if (tries < MAX_CONFLICT_RETRIES) next.push(op);
        else op.reject(Errors.storageUnavailable(`the write kept losing races with other nodes (${tries} tries)`));
      }
      round = next;
    }
  }

  /** Commits a group in transactions of at most the store's size; resolves to the writes that lost a race. */
  private async commitGroup(store: ReplicatedStore, group: readonly Accepted[]): Promise<PendingOp[]> {
    const chunks: Accepted[][] = [];
    let ops = Infinity;
    for (const item of group) {
      const size = opsOf(item.outcome);
      if (ops + size > store.maxOpsPerCommit) {
        chunks.push([]);
        ops = 0;
      }
      chunks[chunks.length - 1].push(item);
      ops += size;
    }
    const lost = await Promise.all(
      chunks.map(async (chunk) => {
        const refused = await this.commitChunk(store, chunk);
        // Together they were refused: find out which one lost, each on its own.
        if (refused.length <= 1) return refused;
        return (
          await Promise.all(refused.map(async ({ op, outcome }) => this.commitChunk(store, [{ op, outcome }])))
        ).flat();
      }),
    );
    return lost.flat().map(({ op }) => op);
  }

  /** One transaction; acknowledges its writes once the view shows them; returns them if refused. */
  private async commitChunk(store: ReplicatedStore, chunk: readonly Accepted[]): Promise<Accepted[]> {
    try {
      const commit = await store.commitIf(
        chunk.map(({ outcome }) =>
          outcome.config === undefined
            ? { id: outcome.id, instance: outcome.instance, expected: expectationOf(outcome) }
            : { name: outcome.config.name, config: outcome.config.entry?.config ?? null },
        ),
      );
      if (!commit.committed && commit.fenced === true && chunk.length === 1) {
        // Computing it again cannot help: this node is no longer the member that owned the check.
        const { op, outcome } = chunk[0];
        op.reject(Errors.notCheckOwner(outcome.checkId ?? outcome.id));
        return [];
      }
      await this.reach(commit.index);
      if (!commit.committed) return [...chunk];
      this.answeredAt ??= this.enqueued;
      for (const { op, outcome } of chunk) op.resolve(outcome.result(commit.index));
    } catch (error) {
      const failure = error instanceof KonsulError ? error : Errors.storageUnavailable((error as Error).message);
      for (const { op } of chunk) op.reject(failure);
    }
    return [];
  }

  /** Resolves once the view has reached `index`; rejects with 503 when it does not in time. */
  private reach(index: number): Promise<void> {
    if (this.currentIndex >= index) return Promise.resolve();
    if (this.closed) return Promise.reject(Errors.shuttingDown());
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.indexWaiters = this.indexWaiters.filter((waiter) => waiter !== entry);
        reject(
          Errors.storageUnavailable(
            `committed at index ${index}, but this node's view is still at ${this.currentIndex}; retry the read or write`,
          ),
        );
      }, this.options.catchUpTimeoutMs ?? 5000);
      const entry = {
        index,
        resolve: () => {
          this.clock.clearTimeout(timer);
          resolve();
        },
        reject: (error: Error) => {
          this.clock.clearTimeout(timer);
          reject(error);
        },
      };
      this.indexWaiters.push(entry);
    });
  }

  /** The view now holds everything up to `index`. */
  private advance(index: number): void {
    if (index > this.currentIndex) this.currentIndex = index;
    if (this.indexWaiters.length === 0) return;
    const still: typeof this.indexWaiters = [];
    for (const waiter of this.indexWaiters) {
      if (waiter.index <= this.currentIndex) waiter.resolve();
      else still.push(waiter);
    }
    this.indexWaiters = still;
  }

  /**
   * Changes from the shared store. `serviceIndex` is the index the touched services take: the
   * change's own revision from a watch, the listing's revision after a re-list (whose changes
   * happened at unknown revisions up to it: a watcher may wake for nothing, never miss one).
   */
  private applyReplica(index: number, changes: readonly ReplicaChange[], serviceIndex: number): void {
    const batch = this.services.batch();
    const touched = new Set<string>();
    const events: CatalogEvent[] = [];
    for (const change of changes) {
      if (change.kind === 'config') {
        this.applyConfig(change.name, change.config);
        batch.touch(change.name, serviceIndex);
        touched.add(change.name);
        events.push({ kind: 'service-configured', index, name: change.name, config: change.config?.config ?? null });
        continue;
      }
      const id = change.kind === 'put' ? change.instance.id : change.id;
      const previous = this.byId.get(id);
      if (change.kind === 'delete' && previous === undefined) continue;
      const instance = change.kind === 'put' ? change.instance : null;
      this.apply(id, previous, instance);
      batch.replace(previous, instance, serviceIndex);
      if (instance !== null) touched.add(instance.name);
      if (previous !== undefined) touched.add(previous.name);
      events.push(
        instance === null
          ? { kind: 'deregistered', index, instance: previous! }
          : { kind: 'registered', index, instance, previous },
      );
    }
    if (events.length > 0) this.allSorted = null;
    batch.commit();
    this.markTombstones(touched);
    this.advance(Math.max(index, serviceIndex));
    if (touched.size > 0) this.watchers.notify(touched);
    for (const event of events) this.tell(event);
  }

  /**
   * Tombstones over a shared store. etcd holds no per-service rows (a service is the set of its
   * instances' keys; a node started later never sees an emptied service at all), so there is
   * nothing to delete there: forgetting only drops the service from this node's view and from
   * what the faces keep per service. Each node does it on its own clock. It takes no index: a
   * read of a forgotten service reports this node's index, which is not below anything the
   * service reported, so a watcher sees at most a spurious wake-up, as in SQLite mode.
   */
  private forgetReplicaTombstones(): number {
    let forgotten = 0;
    for (;;) {
      const due = this.tombstones.due(this.now() - this.tombstoneTtlMs, 1000);
      if (due.length === 0 || this.closed) return forgotten;
      const names = due.filter((name) => this.services.get(name)?.instances.length === 0);
      for (const name of due) this.tombstones.clear(name);
      if (names.length === 0) continue;
      for (const name of names) this.services.forget(name);
      this.watchers.notify(new Set(names));
      this.tell({ kind: 'services-forgotten', index: this.currentIndex, names });
      forgotten += names.length;
    }
  }

  /** A fresh listing: the first one loads the view, a later one (after a broken watch) is applied as a diff. */
  private resetReplica(index: number, instances: readonly Instance[], configs: readonly ServiceConfigEntry[]): void {
    if (this.byId.size === 0 && this.currentIndex === 0) {
      for (const instance of instances) {
        this.byId.set(instance.id, instance);
        for (const check of instance.checks) this.checkOwners.set(check.id, instance.id);
      }
      // No per-service rows in a shared store: each service starts at its newest instance's index.
      this.services.load(instances, new Map());
      // ... or at its config's, when that is newer.
      const batch = this.services.batch();
      for (const entry of configs) {
        this.configs.set(entry.name, entry);
        batch.touch(entry.name, entry.modifyIndex);
      }
      batch.commit();
      this.allSorted = null;
      this.advance(Math.max(index, 1));
      return;
    }
    const changes: ReplicaChange[] = [];
    const listed = new Set<string>();
    for (const instance of instances) {
      listed.add(instance.id);
      const current = this.byId.get(instance.id);
      if (current?.modifyIndex !== instance.modifyIndex || current.createIndex !== instance.createIndex)
        changes.push({ kind: 'put', instance });
    }
    for (const id of this.byId.keys()) if (!listed.has(id)) changes.push({ kind: 'delete', id });
    const listedConfigs = new Set<string>();
    for (const entry of configs) {
      listedConfigs.add(entry.name);
      if (this.configs.get(entry.name)?.modifyIndex !== entry.modifyIndex)
        changes.push({ kind: 'config', name: entry.name, config: entry });
    }
    for (const name of this.configs.keys())
      if (!listedConfigs.has(name)) changes.push({ kind: 'config', name, config: null });
    const at = Math.max(index, this.currentIndex);
    this.applyReplica(at, changes, at);
  }

  private applyConfig(name: string, entry: ServiceConfigEntry | null): void {
    if (entry === null) this.configs.delete(name);
    else this.configs.set(name, entry);
  }

  /** Updates the by-id and check-owner maps; the service lists are rebuilt once per batch. */
  private apply(id: string, previous: Instance | undefined, instance: Instance | null): void {
    if (previous !== undefined) for (const check of previous.checks) this.checkOwners.delete(check.id);
    if (instance === null) {
      this.byId.delete(id);
    } else {
      this.byId.set(instance.id, instance);
      for (const check of instance.checks) this.checkOwners.set(check.id, instance.id);
    }
  }
}

/** The keys a write touches in a shared store: its instance and every check id it holds or held. */
function keysTouched(outcome: Outcome<unknown>): string[] {
  if (outcome.config !== undefined) return [`config:${outcome.config.name}`];
  const keys = [`instance:${outcome.id}`];
  for (const check of outcome.previous?.checks ?? []) keys.push(`check:${check.id}`);
  for (const check of outcome.instance?.checks ?? []) keys.push(`check:${check.id}`);
  return keys;
}

/** etcd operations a write costs: a compare and a put or delete per key. */
function opsOf(outcome: Outcome<unknown>): number {
  if (outcome.config !== undefined) return 1;
  const fence = outcome.fence === undefined ? 0 : 1;
  return 2 * (1 + (outcome.previous?.checks.length ?? 0) + (outcome.instance?.checks.length ?? 0)) + fence;
}

function expectationOf(outcome: Outcome<unknown>): WriteExpectation {
  const before = new Set((outcome.previous?.checks ?? []).map((check) => check.id));
  const after = new Set((outcome.instance?.checks ?? []).map((check) => check.id));
  return {
    instanceIndex: outcome.previous?.modifyIndex ?? 0,
    claimedCheckIds: [...after].filter((id) => !before.has(id)),
    releasedCheckIds: [...before].filter((id) => !after.has(id)),
    ...(outcome.fence === undefined ? {} : { fence: outcome.fence }),
  };
}

/**
 * The catalog as the queued writes of one batch see it: the live view with the batch's earlier
 * writes laid over it. Nothing here touches the live view, so a batch that fails to commit
 * leaves no trace.
 */
class Stage {
  private readonly instances = new Map<string, Instance | null>();
  private readonly owners = new Map<string, string | null>();
  private readonly configs = new Map<string, ServiceConfigEntry | null>();

  constructor(
    private readonly liveInstances: ReadonlyMap<string, Instance>,
    private readonly liveOwners: ReadonlyMap<string, string>,
    private readonly liveConfigs: ReadonlyMap<string, ServiceConfigEntry>,
    private index: number,
  ) {}

  config(name: string): ServiceConfigEntry | undefined {
    const staged = this.configs.get(name);
    return staged === undefined ? this.liveConfigs.get(name) : (staged ?? undefined);
  }

  putConfig(name: string, entry: ServiceConfigEntry | null): void {
    this.configs.set(name, entry);
  }

  nextIndex(): number {
    return ++this.index;
  }

  instance(id: string): Instance | undefined {
    const staged = this.instances.get(id);
    return staged === undefined ? this.liveInstances.get(id) : (staged ?? undefined);
  }

  checkOwner(checkId: string): string | undefined {
    const staged = this.owners.get(checkId);
    return staged === undefined ? this.liveOwners.get(checkId) : (staged ?? undefined);
  }

  put(instance: Instance, previous: Instance | undefined): void {
    if (previous !== undefined) for (const check of previous.checks) this.owners.set(check.id, null);
    this.instances.set(instance.id, instance);
    for (const check of instance.checks) this.owners.set(check.id, instance.id);
  }

  remove(previous: Instance): void {
    for (const check of previous.checks) this.owners.set(check.id, null);
    this.instances.set(previous.id, null);
  }

  /** Whether an earlier write of the batch put an instance into service `name`. */
  hasInstanceNamed(name: string): boolean {
    for (const instance of this.instances.values()) if (instance !== null && instance.name === name) return true;
    return false;
  }
}

/** The instances carrying every tag and every meta pair; the others go to `excluded` with the first rule they fail. */
function matching(
  source: readonly Instance[],
  tags: readonly string[],
  metaEntries: readonly (readonly [string, string])[],
  excluded: Exclusion[] | undefined,
): Instance[] {
  const kept: Instance[] = [];
  for (const instance of source) {
    const reason = filterExclusion(instance, tags, metaEntries);
    if (reason === null) kept.push(instance);
    else excluded?.push({ id: instance.id, reason, instance });
  }
  return kept;
}

function filterExclusion(
  instance: Instance,
  tags: readonly string[],
  metaEntries: readonly (readonly [string, string])[],
): 'tag' | 'meta' | null {
  for (const tag of tags) if (!instance.tags.includes(tag)) return 'tag';
  for (const [key, value] of metaEntries) if (instance.meta[key] !== value) return 'meta';
  return null;
}

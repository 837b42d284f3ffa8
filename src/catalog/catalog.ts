import { Errors, KonsulError } from '../errors.js';
import { buildInstance, normalizeRegistration, type CheckDefaults } from './registration.js';
import type { CatalogStore, CatalogWrite } from './store.js';
import { ServiceTable } from './service-table.js';
import { ANY, WatchSet } from './watch.js';
import {
  compareById,
  worstStatus,
  type Check,
  type HealthStatus,
  type Instance,
  type Registration,
  type ServiceSummary,
  type ServiceView,
} from './types.js';

export interface CatalogOptions {
  checkDefaults: CheckDefaults;
  /** Blocking queries held at once; one more is refused with 429. */
  maxWaiters?: number;
  /** Where an exception thrown by a subscriber goes; by default it is rethrown on its own tick. */
  onListenerError?: (error: unknown) => void;
  now?: () => number;
}

export type CatalogEvent =
  | { kind: 'registered'; index: number; instance: Instance; previous: Instance | undefined }
  | { kind: 'deregistered'; index: number; instance: Instance }
  | { kind: 'check-updated'; index: number | null; instance: Instance; check: Check; previousStatus: HealthStatus };

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
}

export interface WriteResult {
  id: string;
  index: number;
}

/** A mutation computed against the staged state; `write` is absent for in-memory-only changes. */
interface Outcome<R> {
  id: string;
  instance: Instance | null;
  previous: Instance | undefined;
  write?: CatalogWrite;
  event: CatalogEvent;
  result: R;
}

interface PendingOp {
  mutate: (stage: Stage) => Outcome<unknown> | null;
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
  private readonly services = new ServiceTable();
  private readonly watchers = new WatchSet();
  private readonly listeners = new Set<(event: CatalogEvent) => void>();
  private readonly now: () => number;
  private readonly maxWaiters: number;
  private readonly reportListenerError: (error: unknown) => void;
  private pending: PendingOp[] = [];
  private flushing: Promise<void> | null = null;
  private closed = false;
  private draining = false;
  /** Cache of everyInstance(); cleared whenever a batch changes anything, notes included. */
  private allSorted: readonly Instance[] | null = null;
  private currentIndex = 0;

  private constructor(
    private readonly store: CatalogStore,
    private readonly options: CatalogOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.maxWaiters = options.maxWaiters ?? 20_000;
    this.reportListenerError =
      options.onListenerError ??
      ((error) =>
        queueMicrotask(() => {
          throw error;
        }));
  }

  static async open(store: CatalogStore, options: CatalogOptions): Promise<Catalog> {
    const catalog = new Catalog(store, options);
    const snapshot = await store.load();
    // An empty catalog already reports index 1 (0 would make clients never block), so the
    // first write must be 2: a watcher holding index 1 has to see it.
    catalog.currentIndex = Math.max(snapshot.index, 1);
    for (const instance of snapshot.instances) {
      catalog.byId.set(instance.id, instance);
      for (const check of instance.checks) catalog.checkOwners.set(check.id, instance.id);
    }
    catalog.services.load(snapshot.instances, snapshot.serviceIndexes);
    return catalog;
  }

  get location(): string {
    return this.store.location;
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

  /** Services that have at least one instance, by name. */
  summaries(): ServiceSummary[] {
    return this.services.summaries();
  }

  query(filter: QueryFilter): QueryResult {
    // Repeating a tag changes nothing, so it must not make a new key (and a new ring).
    const tags = filter.tags === undefined ? [] : [...new Set(filter.tags)];
    const metaEntries = Object.entries(filter.meta ?? {});
    const name = filter.name?.toLowerCase();
    const source = name === undefined ? this.everyInstance() : (this.services.get(name)?.instances ?? []);
    const instances =
      tags.length === 0 && metaEntries.length === 0
        ? source
        : source.filter(
            (instance) =>
              tags.every((tag) => instance.tags.includes(tag)) &&
              metaEntries.every(([key, value]) => instance.meta[key] === value),
          );
    const index = this.serviceIndex(name);
    const filterKey =
      tags.length === 0 && metaEntries.length === 0 ? '' : `|${JSON.stringify([[...tags].sort(), metaEntries.sort()])}`;
    return { index, key: `${name ?? ANY}@${index}${filterKey}`, service: name ?? ANY, instances };
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
        result: { id: instance.id, index, instance },
      };
    });
  }

  deregister(id: string): Promise<WriteResult> {
    return this.enqueue((stage) => {
      const previous = stage.instance(id);
      if (previous === undefined) throw Errors.instanceNotFound(id);
      const index = stage.nextIndex();
      stage.remove(previous);
      return {
        id,
        instance: null,
        previous,
        write: { kind: 'delete', index, id, name: previous.name },
        event: { kind: 'deregistered', index, instance: previous },
        result: { id, index },
      };
    });
  }

  /**
   * Records a check result. A status change is a write (new index, wakes blocking queries,
   * survives restart); a new note with the same status only updates the live view, so noisy
   * output does not wake every watcher. An unchanged result does nothing. Resolves to the index
   * written, or null when nothing was written.
   */
  updateCheck(checkId: string, status: HealthStatus, note: string): Promise<number | null> {
    return this.enqueue<number | null>((stage) => {
      const owner = stage.checkOwner(checkId);
      const previous = owner === undefined ? undefined : stage.instance(owner);
      const current = previous?.checks.find((check) => check.id === checkId);
      if (previous === undefined || current === undefined) throw Errors.checkNotFound(checkId);
      if (current.status === status && current.note === note) return null;
      const statusChanged = current.status !== status;
      const index = statusChanged ? stage.nextIndex() : null;
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
        result: index,
      };
    });
  }

  /** Stops taking writes, waits for queued ones, releases blocking queries and closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.releaseWaiters();
    while (this.flushing !== null || this.pending.length > 0) await (this.flushing ?? this.flush());
    await this.store.close();
  }

  private enqueue<R>(mutate: (stage: Stage) => Outcome<R> | null): Promise<R> {
    if (this.closed) return Promise.reject(Errors.shuttingDown());
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ mutate, resolve: resolve as (value: unknown) => void, reject });
      if (this.pending.length === 1 && this.flushing === null) setImmediate(() => void this.flush());
    });
  }

  private flush(): Promise<void> {
    if (this.flushing !== null) return this.flushing;
    if (this.pending.length === 0) return Promise.resolve();
    this.flushing = this.commitPending().finally(() => {
      this.flushing = null;
      if (this.pending.length > 0) setImmediate(() => void this.flush());
    });
    return this.flushing;
  }

  private async commitPending(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    const stage = new Stage(this.byId, this.checkOwners, this.currentIndex);
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
    const writes = accepted.flatMap(({ outcome }) => (outcome.write === undefined ? [] : [outcome.write]));
    try {
      await this.store.commit(writes);
    } catch (error) {
      const failure = error instanceof KonsulError ? error : Errors.storageUnavailable((error as Error).message);
      for (const { op } of accepted) op.reject(failure);
      return;
    }
    const touched = new Set<string>();
    const changes = this.services.batch();
    if (accepted.length > 0) this.allSorted = null;
    for (const { outcome } of accepted) {
      this.apply(outcome);
      changes.replace(outcome.previous, outcome.instance, outcome.write?.index ?? null);
      if (outcome.write !== undefined) {
        this.currentIndex = outcome.write.index;
        if (outcome.instance !== null) touched.add(outcome.instance.name);
        if (outcome.previous !== undefined) touched.add(outcome.previous.name);
      }
    }
    changes.commit();
    if (touched.size > 0) this.watchers.notify(touched);
    for (const { op, outcome } of accepted) op.resolve(outcome.result);
    // The writes are durable and acknowledged whatever a listener does; a listener that throws
    // is a bug to surface, not a reason to strand the rest of the batch.
    for (const { outcome } of accepted) {
      for (const listener of this.listeners) {
        try {
          listener(outcome.event);
        } catch (error) {
          this.reportListenerError(error);
        }
      }
    }
  }

  /** Updates the by-id and check-owner maps; the service lists are rebuilt once per batch. */
  private apply(outcome: Outcome<unknown>): void {
    const { previous, instance } = outcome;
    if (previous !== undefined) for (const check of previous.checks) this.checkOwners.delete(check.id);
    if (instance === null) {
      this.byId.delete(outcome.id);
    } else {
      this.byId.set(instance.id, instance);
      for (const check of instance.checks) this.checkOwners.set(check.id, instance.id);
    }
  }
}

/**
 * The catalog as the queued writes of one batch see it: the live view with the batch's earlier
 * writes laid over it. Nothing here touches the live view, so a batch that fails to commit
 * leaves no trace.
 */
class Stage {
  private readonly instances = new Map<string, Instance | null>();
  private readonly owners = new Map<string, string | null>();

  constructor(
    private readonly liveInstances: ReadonlyMap<string, Instance>,
    private readonly liveOwners: ReadonlyMap<string, string>,
    private index: number,
  ) {}

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
}

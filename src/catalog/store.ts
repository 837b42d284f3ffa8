import type { HealthStatus, Instance, ServiceConfig, ServiceConfigEntry } from './types.js';

/**
 * The durable side of the catalog on one node. The Catalog keeps the live view in memory, gives
 * each write its index and hands the writes to the store (SQLite). A store shared by several
 * nodes (etcd) implements ReplicatedStore below instead.
 */
export interface CatalogStore {
  /** Where the data lives, for the start-up line (e.g. the SQLite file path). */
  readonly location: string;
  /** Everything durable, read once at start-up. */
  load(): Promise<CatalogSnapshot>;
  /**
   * Applies the writes atomically and durably, in order; each carries the index the catalog
   * assigned it. Resolves once they would survive a crash; rejects with nothing applied.
   */
  commit(writes: readonly CatalogWrite[]): Promise<void>;
  /**
   * A durable write that changes nothing, to learn whether the store takes writes again after
   * a failed commit when no write is waiting. Rejects as commit would.
   */
  probe(): Promise<void>;
  close(): Promise<void>;
}

export interface CatalogSnapshot {
  index: number;
  instances: Instance[];
  /** Per-service modify index, including services whose last instance has left. */
  serviceIndexes: Map<string, number>;
  /** Every service's operator config (PUT /catalog/services/:name/config). */
  serviceConfigs: ServiceConfigEntry[];
}

export type CatalogWrite =
  | {
      kind: 'upsert';
      index: number;
      instance: Instance;
      /** Set when the instance moved from another service. */ previousName?: string;
    }
  | { kind: 'delete'; index: number; id: string; name: string }
  /** A service's operator config set (or removed: null); moves the service's index. */
  | { kind: 'service-config'; index: number; name: string; config: ServiceConfig | null }
  /** Services whose last instance left a grace period ago: their index is no longer kept. */
  | { kind: 'forget-services'; index: number; names: readonly string[] }
  | {
      kind: 'check-status';
      index: number;
      checkId: string;
      instanceId: string;
      name: string;
      status: HealthStatus;
      note: string;
      statusChangedAt: number;
    };

/**
 * A store shared by several Konsul nodes (etcd). The store, not the catalog, gives each write
 * its index (the store's revision), and every node's view is fed by the store's change stream,
 * the node's own writes included: a node never applies a write it has not seen come back.
 */
export interface ReplicatedStore {
  readonly replicated: true;
  /** Where the data lives, for the start-up line (e.g. the etcd endpoints). */
  readonly location: string;
  /**
   * Lists the catalog, hands it to `feed.reset`, then follows every later change through
   * `feed.apply` until closed. After a broken watch it lists again and calls `feed.reset` again.
   * Resolves once the first list has been handed over.
   */
  follow(feed: ReplicaFeed): Promise<void>;
  /**
   * Commits the writes together (one revision) if everything each was computed from is still
   * what the store holds, or none of them. Resolves with the revision that committed them, or
   * with `committed: false` and the store's revision at the refusal (the view must reach it
   * before a write is computed again). The writes touch distinct keys.
   */
  commitIf(writes: readonly (ReplicatedWrite | ReplicatedConfigWrite)[]): Promise<ConditionalCommit>;
  /** Most etcd operations (keys put or deleted, compares) one commitIf may carry. */
  readonly maxOpsPerCommit: number;
  /** How current this node is with the store, for KnownLeader / LastContact, readiness and metrics. */
  contact(): StoreContact;
  /** The Konsul nodes sharing the store and the store's own members, as last seen. */
  cluster(): ClusterView;
  close(): Promise<void>;
}

export interface StoreContact {
  /** The store answered (with a leader) recently enough for this node to call itself current. */
  knownLeader: boolean;
  /** Milliseconds since the store last answered; -1 when it never did. */
  lastContactMs: number;
  /** The newest revision the store reported. */
  storeRevision: number;
  /** The revision this node's view holds everything up to. */
  viewRevision: number;
}

/** An instance's new state (null: removed), and what it was computed from. */
export interface ReplicatedWrite {
  id: string;
  instance: Instance | null;
  expected: WriteExpectation;
}

/**
 * A service's operator config (null: removed). Unconditional: the last writer wins, as with
 * Consul's config entries; it never depends on what another write changed.
 */
export interface ReplicatedConfigWrite {
  name: string;
  config: ServiceConfig | null;
}

export function isConfigWrite(write: ReplicatedWrite | ReplicatedConfigWrite): write is ReplicatedConfigWrite {
  return 'config' in write;
}

/** What a conditional write was computed from. */
export interface WriteExpectation {
  /** The instance's modify index as the node saw it; 0 when it saw no such instance. */
  instanceIndex: number;
  /** Check ids the write takes that the instance did not hold: no one may hold them. */
  claimedCheckIds: readonly string[];
  /** Check ids the instance held that the write gives up. */
  releasedCheckIds: readonly string[];
  /** Set on a health check's own writes: they commit only while the writer is still that member. */
  fence?: WriteFence;
}

/**
 * A writer's membership, as a fencing token: the write commits only while the member's key
 * still exists with this create revision. A node whose lease ran out (its key was deleted, or
 * it rejoined under a new key) can then not overwrite what the check's new owner wrote.
 */
export interface WriteFence {
  member: string;
  createRevision: number;
}

/** Refused writes say whether a fence refused them (the writer is no longer that member). */
export type ConditionalCommit =
  { committed: true; index: number } | { committed: false; index: number; fenced?: boolean };

export type ReplicaChange =
  | { kind: 'put'; instance: Instance }
  | { kind: 'delete'; id: string }
  /** A service's config set, or removed (null). */
  | { kind: 'config'; name: string; config: ServiceConfigEntry | null };

/** How a replicated store keeps a node's view current. */
export interface ReplicaFeed {
  /** Replaces the whole view with a listing taken at `index`. */
  reset(index: number, instances: readonly Instance[], configs: readonly ServiceConfigEntry[]): void;
  /** Changes committed at `index`, in order; indexes only grow. */
  apply(index: number, changes: readonly ReplicaChange[]): void;
  /** Nothing below `index` is left to deliver (a progress notification). */
  progress(index: number): void;
}

export type AnyCatalogStore = CatalogStore | ReplicatedStore;

export function isReplicated(store: AnyCatalogStore): store is ReplicatedStore {
  return 'replicated' in store;
}

/** What a Konsul node of a cluster says about itself (its membership key). */
export interface ClusterMember {
  name: string;
  /** host:port of its HTTP face. */
  http: string;
  /** host:port of its DNS face, or null when DNS is off. */
  dns: string | null;
  version: string;
  /** Epoch ms. */
  startedAt: number;
}

export interface ClusterView {
  /** Live Konsul nodes (their membership keys exist), by name. */
  members: ClusterMember[];
  /** host:port of the store leader's client URL, or null when there is none. */
  etcdLeader: string | null;
  /** host:port of every store member's client URL. */
  etcdMembers: string[];
}

/**
 * A store's failure in one line that names where the data lives; `detail` is the same without
 * the location, for answers to clients.
 */
export class StorageError extends Error {
  constructor(
    message: string,
    /** The backend's own code (SQLite's extended result code), when there is one. */
    readonly code: string | undefined,
    readonly detail: string = message,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}

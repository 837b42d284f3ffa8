import type { HealthStatus, Instance } from './types.js';

/**
 * The durable side of the catalog. The Catalog keeps the live view in memory and hands every
 * change to a store; SQLite is today's store, and a clustered store (etcd: revision = index,
 * watch = blocking query, lease = TTL) is meant to be a second implementation of this interface.
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
}

export type CatalogWrite =
  | {
      kind: 'upsert';
      index: number;
      instance: Instance;
      /** Set when the instance moved from another service. */ previousName?: string;
    }
  | { kind: 'delete'; index: number; id: string; name: string }
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

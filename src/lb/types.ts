/**
 * The load-balancing contract shared by the faces (HTTP, DNS), the metrics module
 * and the strategies. Strategies order; the manager validates, filters by health,
 * caches per-membership structures and dispatches.
 */
import type { Weights } from './weights.js';
import type { Exclusion, Instance } from '../catalog/types.js';
import type { Config } from '../config/schema.js';
import type { Membership } from './membership.js';
import type { SplitSide } from './split.js';
import type { ScratchBuffer } from './scratch.js';
import type { BuildTask } from './table-builder.js';

export type LbConfig = Config['lb'];

export interface Candidates {
  /**
   * Identifies the list: service + the caller's filter, e.g. "web@42|tag=v2" from the catalog.
   * An `@<index>` part is ignored: per-list state (rotation counters, weights, smooth
   * weighted round-robin) is kept per key without it and checked against the list's
   * contents, so a write that changes nothing the state depends on keeps it.
   */
  key: string;
  /** Service name, for per-service state (round-robin counters) and for observer labels. "*" when a query spans services. */
  service: string;
  /** All instances that matched the query's name/tag/meta filter, INCLUDING unhealthy ones (the manager applies the health filter). Sorted by id. Never mutate. */
  instances: readonly Instance[];
  /**
   * Every instance of the service, before the tag/meta filter and health (default: `instances`).
   * Rings and Maglev tables are built over these, keyed by their ids and weights, and shared by
   * every filter of the service: filtered-out and unhealthy instances are skipped while walking.
   * Sorted by id; `instances` must be a subset of it. Never mutate.
   */
  members?: readonly Instance[];
}

/** Absent and undefined mean the same: faces fill one reused object per query. */
export interface OrderOptions {
  /** Strategy name; default: config.default. */
  strategy?: string | undefined;
  /** How many instances to return; 0 or undefined = all. */
  limit?: number | undefined;
  /** ip-hash key. */
  clientIp?: string | undefined;
  /** ring-hash / maglev key. */
  sessionKey?: string | undefined;
  /** latency-based: the caller's region, looked up in config.latency. */
  clientRegion?: string | undefined;
  /** Default true: drop critical instances. */
  healthFilter?: boolean | undefined;
  /** Default false: when true also drop warning instances (applies even when healthFilter is false). */
  passingOnly?: boolean | undefined;
  /** A canary split (see split.ts): the first positions go to one tagged subset in proportion. */
  split?: readonly SplitSide[] | undefined;
  /** Percent healthy below which panic mode answers with every candidate; default config.panicThreshold. */
  panicThreshold?: number | undefined;
  /** Slow-start window (a duration, `30s`) for instances that joined or turned passing; default config.slowStart.window. */
  slowStart?: string | undefined;
  /**
   * An `explain` query: order() appends here every candidate the health filter left out, with
   * its reason, recorded by the filter itself. Instances past `limit` are not excluded, only not answered.
   */
  excluded?: Exclusion[] | undefined;
}

export interface OrderResult {
  /** Ordered, best first, at most `limit`. A fresh array the caller may keep. */
  instances: Instance[];
  /** The strategy actually used. */
  strategy: string;
  /** True when panic mode returned unhealthy instances too. */
  panic: boolean;
  /** How many instances the health filter removed (0 in panic). */
  filtered: number;
  /** With a split: the tag of the side the first positions went to. */
  side?: string;
}

/** Implemented by the metrics module (prom-client); every hook is optional. */
export interface LbObserver {
  selection?(service: string, strategy: string, result: 'ok' | 'empty' | 'error', seconds: number): void;
  healthFiltered?(service: string, count: number): void;
  panic?(service: string): void;
  /** Outlier detection ejected an instance from answers. */
  ejected?(service: string, instanceId: string, reason: 'consecutive-failures' | 'success-rate'): void;
  /** An answer of a split service went to `side` (a tag from the service's config). */
  split?(service: string, side: string): void;
  connections?(service: string, instanceId: string, connections: number): void;
  /** The instance left the catalog: drop whatever the observer keeps for it. */
  instanceRemoved?(service: string, instanceId: string): void;
}

/** What the load tracker knows about one instance. Live object: reads see later reports. */
export interface LoadView {
  /** Last reported active connections; 0 when never reported. */
  readonly connections: number;
  /** EWMA of reported latencies in milliseconds; NaN when never reported. */
  readonly latencyMs: number;
}

/**
 * A structure derived from one candidate list (a ring, a table, weights, loads),
 * built on first use and cached with the list: per Candidates.key and health filter.
 * Define slots once at module level; the slot object itself is the cache key, so two
 * strategies that share a slot (ip-hash and ring-hash share the ring) share the structure.
 */
export interface StateSlot<T> {
  readonly name: string;
  build(instances: readonly Instance[], ctx: StrategyContext): T;
}

/**
 * A ring or lookup table built over a service's membership (Candidates.members): shared by
 * every filter and health view of the service, cached by the members' ids and weights in
 * a byte-bounded LRU, and built in slices off the request path (see table-builder.ts).
 */
export interface TableSlot<T extends { readonly owners: ArrayLike<number> }> {
  readonly name: string;
  /** Work units a build will take (decides between an inline build and a sliced one). */
  estimate(membership: Membership, config: LbConfig): number;
  /** A build whose work memory comes from `scratch`, given back when the build is done. */
  build(membership: Membership, config: LbConfig, scratch: ScratchBuffer): BuildTask<T>;
  /** Heap bytes the table holds, charged to the cache. */
  bytes(table: T): number;
}

/** A table found for a query, and how its member indices map to the instances being ordered. */
export interface TableView<T> {
  readonly table: T;
  /** toSelected[member index] = position in the instances being ordered, or -1 (filtered out or unhealthy). */
  readonly toSelected: Int32Array;
}

/**
 * Everything a strategy may read while ordering one query. The manager reuses one
 * context object across calls (no allocation per query): read it during order(),
 * never keep a reference to it.
 */
export interface StrategyContext {
  /** Candidates.key of this query. */
  readonly key: string;
  /** Candidates.service of this query. */
  readonly service: string;
  /** How many instances to return: 1 ≤ limit ≤ instances.length (the manager resolves 0 to "all"). */
  readonly limit: number;
  readonly clientIp: string | undefined;
  readonly sessionKey: string | undefined;
  readonly clientRegion: string | undefined;
  readonly config: Readonly<LbConfig>;
  /** Uniform in [0, 1); seeded when the manager was given a `random`. */
  readonly random: () => number;
  /** The list's effective weights for this answer: the cached ones, or ramped by slow start. */
  weights(): Weights;
  /** Returns the rotation counter of this service and filter, then increments it. */
  nextRotation(): number;
  /** The structure for `slot`, built once per candidate list and health filter. */
  state<T>(slot: StateSlot<T>): T;
  /**
   * The service's table for `slot`: the one for its current membership, or while that one is
   * being built, the last one built for the service (members that left are skipped, new ones
   * own no slot yet). Undefined only before the service's first table is ready.
   */
  table<T extends { readonly owners: ArrayLike<number> }>(slot: TableSlot<T>): TableView<T> | undefined;
  /**
   * The instances ordered by weighted rendezvous hashing of `keyHash` (Thaler & Ravishankar,
   * 1998): consistent like a table, O(n) per query. The hash strategies answer with it while
   * their first table is built.
   */
  rendezvous(keyHash: number): Instance[];
  /** Load views aligned with the instances being ordered (index i ↔ instances[i]). */
  loads(): readonly LoadView[];
}

export interface Strategy {
  readonly name: string;
  /**
   * True when the order is a function of the caller's key (clientIp or sessionKey): the DNS
   * face then scopes its answer to the client's subnet (RFC 7871 §7.2.1).
   */
  readonly keyedByClient?: boolean;
  /** True when the order reads ctx.weights(): slow start (slow-start.ts) then ramps new instances' weights. */
  readonly weighted?: boolean;
  /**
   * Rejects options the strategy cannot work without (throw an Errors.* KonsulError).
   * Called before the candidate list is looked at, so an empty service still reports the error.
   */
  validate?(ctx: StrategyContext): void;
  /** A permutation of `instances` (or its first ctx.limit), best first. Must not mutate `instances`. */
  order(instances: readonly Instance[], ctx: StrategyContext): Instance[];
}

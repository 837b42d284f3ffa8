/**
 * The strategy manager: validates a query's options, applies the health filter (and
 * panic mode), finds the cached per-list state and hands the survivors to one
 * strategy. It is the only place in Konsul that orders instances; the HTTP and DNS
 * faces both call order().
 */
import type { Exclusion, Instance } from '../catalog/types.js';
import { parseDuration } from '../duration.js';
import { Errors } from '../errors.js';
import { QueryContext } from './context.js';
import { ByteLru } from './byte-lru.js';
import { healthMode, selectHealthy } from './health-filter.js';
import { ListEntry, RotationCounters, rotationKey } from './list-cache.js';
import { chooseSide, splitOrder } from './split.js';
import { OutlierDetector, type OutlierConfig } from './outliers.js';
import { SlowStartTracker, type RampStarts, type SlowStartConfig } from './slow-start.js';
import { WEIGHTS } from './weights.js';
import { LoadTracker, type LoadRecord, type LoadReport } from './load-tracker.js';
import { IpHashStrategy } from './strategies/ip-hash.js';
import { LatencyBasedStrategy } from './strategies/latency-based.js';
import { LeastConnectionsStrategy } from './strategies/least-connections.js';
import { MaglevStrategy } from './strategies/maglev.js';
import { PowerOfTwoChoicesStrategy } from './strategies/p2c.js';
import { RandomStrategy } from './strategies/random.js';
import { RingHashStrategy } from './strategies/ring-hash.js';
import { RoundRobinStrategy } from './strategies/round-robin.js';
import { WeightedRandomStrategy } from './strategies/weighted-random.js';
import { WeightedRoundRobinStrategy } from './strategies/weighted-round-robin.js';
import { TableBuilder, type BuilderStats } from './table-builder.js';
import { TableEntry, TableStore, type CacheMember } from './table-store.js';
import type { Candidates, LbConfig, LbObserver, OrderOptions, OrderResult, StateSlot, Strategy } from './types.js';

export interface StrategyManagerOptions {
  /** Uniform in [0, 1); default Math.random. Pass createSeededRandom(seed) for reproducible orders. */
  random?: () => number;
  observer?: LbObserver;
  /** The clock of outlier ejection and slow start; default Date.now. */
  now?: () => number;
  /** The CPU clock of the table builder's slice statistics (table-builder.ts); benchmarks pass their own. */
  buildCpuClock?: () => number;
}

const NO_OPTIONS: OrderOptions = {};
const NANOSECONDS_PER_SECOND = 1e9;
/** Table builds waiting at once; more are refused (the query answers from what exists) until the queue drains. */
const MAX_PENDING_BUILDS = 64;

export interface LbCacheStats {
  /** Entries cached: candidate lists and tables. */
  size: number;
  /** config.cacheSize. */
  capacity: number;
  /** Estimated bytes cached. */
  bytes: number;
  /** config.cacheBytes. */
  capacityBytes: number;
  /** Structures built (rings, tables, weights, …) since start. */
  builds: number;
  /** Entries dropped to stay within the bounds. */
  evictions: number;
  /** Table builds queued or running, and how the slices went. */
  builder: BuilderStats;
  /** Work memory kept between table builds (scratch.ts), outside `bytes`. */
  scratchBytes: number;
}

/** An instance's load as the API shows it and cluster nodes share it. */
export interface SharedLoad {
  connections: number;
  latencyMs: number | null;
}

export class StrategyManager {
  private readonly strategies = new Map<string, Strategy>();
  private readonly indexes = new Map<Strategy, number>();
  private readonly enabledNames: ReadonlySet<string>;
  private readonly observer: LbObserver | undefined;
  /** Lists and tables together, bounded by config.cacheSize entries and config.cacheBytes estimated bytes. */
  private readonly cache: ByteLru<CacheMember>;
  private readonly rotations: RotationCounters;
  private readonly builder: TableBuilder;
  private readonly tables: TableStore;
  private readonly tracker: LoadTracker;
  private readonly context: QueryContext;
  /** The last candidates key and its entry: repeated queries for one list skip rotationKey(). */
  /** Ejection from reported outcomes (outliers.ts). */
  readonly outliers: OutlierDetector;
  /** Candidate arrays without their ejected instances, per array, valid for one detector generation. */
  private readonly withoutEjected = new WeakMap<readonly Instance[], { generation: number; kept: Instance[] }>();
  /** When instances started their slow-start ramp (slow-start.ts). */
  private readonly slowStart: SlowStartTracker;
  /** Ramp starts per list variant: rebuilt when the health-filtered instances change. */
  private readonly rampSlot: StateSlot<RampStarts>;
  /** The last slow-start window parsed (a service's policy) and its config: parsing once per distinct value. */
  private rampWindow: string;
  private rampConfig: SlowStartConfig;
  private lastKey = '';
  private lastEntry: ListEntry | undefined = undefined;

  constructor(
    private readonly config: LbConfig,
    options: StrategyManagerOptions = {},
  ) {
    this.enabledNames = new Set(config.enabled);
    this.observer = options.observer;
    this.cache = new ByteLru<CacheMember>(config.cacheSize, config.cacheBytes, (entry) => {
      if (entry instanceof TableEntry) this.tables.evicted(entry);
    });
    this.rotations = new RotationCounters(config.cacheSize);
    this.builder = new TableBuilder(config.buildSliceWork, MAX_PENDING_BUILDS, {
      sliceTimeMs: parseDuration(config.buildSliceTime)!,
      ...(options.buildCpuClock === undefined ? {} : { cpuClock: options.buildCpuClock }),
    });
    this.tables = new TableStore(this.cache, this.builder, config);
    this.tracker = new LoadTracker(config.latencyEwmaAlpha);
    this.context = new QueryContext(config, options.random ?? Math.random, this.tables, this.tracker);
    this.outliers = new OutlierDetector(outlierConfig(config), options.now ?? Date.now, {
      ejected: (service, id, reason) => this.observer?.ejected?.(service, id, reason),
    });
    this.slowStart = new SlowStartTracker(options.now ?? Date.now);
    this.rampSlot = { name: 'slow-start', build: (instances) => this.slowStart.starts(instances) };
    this.rampWindow = config.slowStart.window;
    this.rampConfig = {
      windowMs: parseDuration(config.slowStart.window)!,
      aggression: config.slowStart.aggression,
      minWeightPercent: config.slowStart.minWeightPercent,
    };
  }

  register(strategy: Strategy): void {
    if (this.strategies.has(strategy.name))
      throw new Error(`Load-balancing strategy "${strategy.name}" is already registered`);
    this.indexes.set(strategy, this.strategies.size);
    this.strategies.set(strategy.name, strategy);
  }

  get(name: string): Strategy | undefined {
    return this.strategies.get(name);
  }

  /** Every registered strategy, in registration order. */
  names(): string[] {
    return [...this.strategies.keys()];
  }

  /** Registered strategies that config.enabled turns on, in registration order. */
  enabled(): string[] {
    return this.names().filter((name) => this.enabledNames.has(name));
  }

  /**
   * The strategy a query would use, or the error it would get: unknown_strategy when
   * nothing is registered under the name, strategy_disabled when config.enabled leaves it out.
   * Faces call it at startup to check their own defaults (dns.lb).
   */
  resolve(name: string = this.config.default): Strategy {
    const strategy = this.strategies.get(name);
    if (strategy === undefined) throw Errors.unknownStrategy(name, this.names());
    if (!this.enabledNames.has(name)) throw Errors.strategyDisabled(name, this.enabled());
    return strategy;
  }

  /** Whether `name` is registered and enabled: a query may use it without an error. */
  usable(name: string): boolean {
    return this.strategies.has(name) && this.enabledNames.has(name);
  }

  /**
   * Validates a query's load-balancing options without ordering anything, with the same
   * errors order() would throw: lets a face fail fast before holding a blocking query.
   */
  check(strategy?: string, limit?: number, sessionKey?: string): void {
    const resolved = this.resolve(strategy);
    checkLimit(limit);
    if (resolved.validate !== undefined) {
      const context = this.context;
      context.sessionKey = sessionKey;
      try {
        resolved.validate(context);
      } finally {
        context.sessionKey = undefined;
      }
    }
  }

  /** Checks config.default and config.enabled against the registered strategies. */
  validateConfig(): void {
    for (const name of this.config.enabled) {
      if (!this.strategies.has(name)) throw Errors.unknownStrategy(name, this.names());
    }
    this.resolve(this.config.default);
  }

  order(candidates: Candidates, options: OrderOptions = NO_OPTIONS): OrderResult {
    const observer = this.observer;
    if (observer?.selection === undefined) return this.orderUnobserved(candidates, options);
    const started = process.hrtime.bigint();
    let outcome: 'ok' | 'empty' | 'error' = 'error';
    let label = 'unknown';
    try {
      const result = this.orderUnobserved(candidates, options);
      outcome = result.instances.length === 0 ? 'empty' : 'ok';
      label = result.strategy;
      return result;
    } catch (error) {
      // Label with the requested name only when it is a real strategy: names from
      // query strings would otherwise grow the metric's label set without bound.
      const requested = options.strategy ?? this.config.default;
      if (this.strategies.has(requested)) label = requested;
      throw error;
    } finally {
      observer.selection(
        candidates.service,
        label,
        outcome,
        Number(process.hrtime.bigint() - started) / NANOSECONDS_PER_SECOND,
      );
    }
  }

  reportLoad(instanceId: string, load: LoadReport, service?: string): void {
    const record = this.tracker.report(instanceId, load, service);
    if (load.connections !== undefined)
      this.observer?.connections?.(record.service ?? service ?? 'unknown', instanceId, record.connections);
    this.onLocalReport?.(instanceId, this.loadOf(instanceId));
  }

  /**
   * The live load record of an instance, for a caller that counts its own requests in flight
   * twice a call (konsul/client): it sets `connections` itself and averages latency in with
   * observeLatency(), which strategies read as they read reports, without reportLoad's checks,
   * a report object per call and a lookup. Observers and onLocalReport are not told. Valid until
   * forgetInstance(instanceId); the caller keeps the count non-negative.
   */
  liveLoad(instanceId: string): LoadRecord {
    return this.tracker.record(instanceId);
  }

  /** Averages a latency sample into a record from liveLoad(), as a report's latencyMs is. */
  observeLatency(record: LoadRecord, latencyMs: number): void {
    this.tracker.observeLatency(record, latencyMs);
  }

  /**
   * Told of each report this node receives, with the instance's load after it (cluster mode
   * shares it with the other nodes). One listener; setting another replaces it.
   */
  onLocalReport: ((instanceId: string, load: SharedLoad) => void) | undefined = undefined;

  /** Takes an instance's load as another node reported it (cluster mode); not passed to onLocalReport. */
  replaceLoad(instanceId: string, load: SharedLoad, service?: string): void {
    const record = this.tracker.replace(instanceId, load.connections, load.latencyMs);
    if (service !== undefined) record.service = service;
    this.observer?.connections?.(record.service ?? 'unknown', instanceId, record.connections);
  }

  loadOf(instanceId: string): SharedLoad {
    const record = this.tracker.peek(instanceId);
    if (record === undefined) return { connections: 0, latencyMs: null };
    return { connections: record.connections, latencyMs: Number.isNaN(record.latencyMs) ? null : record.latencyMs };
  }

  /** Drops the instance's load, and tells the observer so it can drop the instance's series. */
  forgetInstance(instanceId: string): void {
    const service = this.tracker.peek(instanceId)?.service;
    this.tracker.forget(instanceId);
    this.outliers.forget(instanceId);
    this.slowStart.forget(instanceId);
    if (service !== undefined) this.observer?.instanceRemoved?.(service, instanceId);
  }

  /** Size and activity of the cache (rings, tables, weights, round-robin state) and of table builds. */
  cacheStats(): LbCacheStats {
    return {
      size: this.cache.size,
      capacity: this.cache.maxEntries,
      bytes: this.cache.bytes,
      capacityBytes: this.cache.maxBytes,
      builds: this.context.builds + this.tables.builds,
      evictions: this.cache.evictions,
      builder: this.builder.stats(),
      scratchBytes: this.tables.scratch.bytes,
    };
  }

  /** Resolves once every table build queued so far has finished (tests, benchmarks, tools). */
  tablesBuilt(): Promise<void> {
    return this.builder.idle();
  }

  /** Stops pending table builds and empties the cache. */
  close(): void {
    this.builder.close();
    this.cache.clear();
    this.tables.clear();
    this.rotations.clear();
    this.lastEntry = undefined;
  }

  private orderUnobserved(candidates: Candidates, options: OrderOptions): OrderResult {
    const strategy = this.resolve(options.strategy);
    const limit = checkLimit(options.limit);

    const context = this.context;
    context.key = candidates.key;
    context.service = candidates.service;
    context.clientIp = options.clientIp;
    context.sessionKey = options.sessionKey;
    context.clientRegion = options.clientRegion;
    strategy.validate?.(context);

    const all = this.inAnswers(candidates, options.excluded);
    const mode = healthMode(options.healthFilter, options.passingOnly);
    const entry = this.listEntry(candidates.key);
    const previous = entry.variants[mode];
    const previousSource = previous?.source;
    const panicThreshold = options.panicThreshold ?? this.config.panicThreshold;
    const variant = entry.variant(mode, all, panicThreshold);
    // The cached variant holds the survivors only; an explain query runs the same filter over the
    // same candidate array again to hear its reasons (same input, same decision), off the hot path.
    if (options.excluded !== undefined) selectHealthy(all, mode, panicThreshold, options.excluded);
    if (variant !== previous || variant.source !== previousSource) context.grew = true;
    const { instances, filtered, panic } = variant.selection;
    const observer = this.observer;
    if (filtered > 0) observer?.healthFiltered?.(candidates.service, filtered);
    if (panic) observer?.panic?.(candidates.service);

    const n = instances.length;
    if (n === 0) {
      this.measure(entry);
      return { instances: [], strategy: strategy.name, panic, filtered };
    }
    const split = options.split;
    // A split regroups a full order, then cuts it to the limit.
    context.limit = split !== undefined || limit === 0 || limit > n ? n : limit;
    context.entry = entry;
    context.variant = variant;
    context.instances = instances;
    context.members = candidates.members ?? all;
    context.strategyIndex = this.indexes.get(strategy)!;
    let ordered: Instance[];
    try {
      if (strategy.weighted === true) context.rampedWeights = this.rampedWeights(options.slowStart);
      ordered = strategy.order(instances, context);
    } finally {
      context.rampedWeights = undefined;
      context.entry = undefined;
      context.variant = undefined;
      context.instances = [];
      context.members = [];
      this.measure(entry);
    }
    if (split === undefined || split.length === 0)
      return { instances: ordered, strategy: strategy.name, panic, filtered };
    const chosen = chooseSide(split, options.sessionKey, context.random);
    const side = split[chosen].tag;
    observer?.split?.(candidates.service, side);
    return { instances: splitOrder(ordered, split, chosen, limit), strategy: strategy.name, panic, filtered, side };
  }

  /**
   * The candidates without the instances ejected now. The filtered array is kept per candidate
   * array and detector generation, so the list cache sees the same array (and keeps what it
   * built) until an ejection or a return changes it.
   */
  private inAnswers(candidates: Candidates, excluded: Exclusion[] | undefined): readonly Instance[] {
    const all = candidates.instances;
    if (!this.outliers.hasEjections(candidates.service)) return all;
    const outliers = this.outliers;
    if (excluded !== undefined)
      for (const instance of all)
        if (outliers.isEjected(instance.id)) excluded.push({ id: instance.id, reason: 'ejected', instance });
    const cached = this.withoutEjected.get(all);
    if (cached !== undefined && cached.generation === outliers.generation) return cached.kept;
    const kept = all.filter((instance) => !outliers.isEjected(instance.id));
    this.withoutEjected.set(all, { generation: outliers.generation, kept });
    return kept;
  }

  /**
   * This answer's weights ramped by slow start, or undefined when the window is off or every
   * instance of the list is past it (one comparison per query once a list has settled).
   */
  private rampedWeights(window: string | undefined) {
    const config = this.slowStartConfig(window ?? this.config.slowStart.window);
    if (config.windowMs <= 0) return undefined;
    const context = this.context;
    return this.slowStart.ramped(context.state(WEIGHTS), context.state(this.rampSlot), config);
  }

  private slowStartConfig(window: string): SlowStartConfig {
    if (window !== this.rampWindow) {
      // Policies are validated when stored; a bad value here came from elsewhere and turns the ramp off.
      this.rampConfig = { ...this.rampConfig, windowMs: parseDuration(window) ?? 0 };
      this.rampWindow = window;
    }
    return this.rampConfig;
  }

  /** The list entry for a candidates key, ignoring its `@<index>` part; created when absent. */
  private listEntry(candidatesKey: string): ListEntry {
    const last = this.lastEntry;
    if (last !== undefined && candidatesKey === this.lastKey && this.cache.get(last.key) === last) return last;
    const key = `L${rotationKey(candidatesKey)}`;
    const cached = this.cache.get(key);
    let entry: ListEntry;
    if (cached instanceof ListEntry) {
      entry = cached;
    } else {
      entry = new ListEntry(key, this.rotations.get(key));
      this.cache.set(entry);
    }
    this.lastKey = candidatesKey;
    this.lastEntry = entry;
    return entry;
  }

  /** Charges what this query built on the entry to the cache (it may evict older entries). */
  private measure(entry: ListEntry): void {
    if (!this.context.grew) return;
    this.context.grew = false;
    this.cache.charge(entry, entry.measure());
  }
}

function outlierConfig(config: LbConfig): OutlierConfig {
  const outliers = config.outlierDetection;
  return {
    consecutiveFailures: outliers.consecutiveFailures,
    intervalMs: parseDuration(outliers.interval)!,
    baseEjectionMs: parseDuration(outliers.baseEjectionTime)!,
    maxEjectionMs: parseDuration(outliers.maxEjectionTime)!,
    maxEjectionPercent: outliers.maxEjectionPercent,
    successRateMinimumHosts: outliers.successRateMinimumHosts,
    successRateRequestVolume: outliers.successRateRequestVolume,
    successRateStdevFactor: outliers.successRateStdevFactor,
  };
}

function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return 0;
  if (!Number.isInteger(limit) || limit < 0) throw Errors.invalidLimit(String(limit));
  return limit;
}

/** A manager with every built-in strategy registered; throws when config.lb names a strategy that does not exist or is disabled. */
export function createStrategyManager(config: LbConfig, options?: StrategyManagerOptions): StrategyManager {
  const manager = new StrategyManager(config, options);
  manager.register(new RoundRobinStrategy());
  manager.register(new WeightedRoundRobinStrategy());
  manager.register(new RandomStrategy());
  manager.register(new WeightedRandomStrategy());
  manager.register(new LeastConnectionsStrategy());
  manager.register(new PowerOfTwoChoicesStrategy());
  manager.register(new IpHashStrategy());
  manager.register(new RingHashStrategy());
  manager.register(new MaglevStrategy());
  manager.register(new LatencyBasedStrategy());
  manager.validateConfig();
  return manager;
}

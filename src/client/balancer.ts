/**
 * One service seen from a caller: its instances (from the shared ServiceWatch), ordered per
 * call by a Konsul strategy run locally (src/lb), then tried in that order: per-try timeout,
 * overall deadline, retries on the next instance within a retry budget, and passive health
 * (outlier ejection, circuit breaker) that skips instances that keep failing.
 *
 * Built on membership change, read on the hot path: the candidate list, the per-instance
 * state and the strategy's tables are made when the watch reports a new list; a call only
 * orders, looks up and counts.
 *
 * Events: 'update' (new instance list), 'sync' and 'stale' (Konsul answered / a call to it
 * failed), 'eject' (instance, until), 'open' (instance: its breaker opened).
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../clock.js';
import type { Instance } from '../catalog/types.js';
import { KonsulError } from '../errors.js';
import type { StrategyManager } from '../lb/manager.js';
import type { Candidates, OrderOptions } from '../lb/types.js';
import { Attempt, usesDispatcherRoute, type Dispatcher } from './attempt.js';
import { AttemptDeadlines } from './attempt-deadlines.js';
import { ClientErrors, KonsulClientError } from './errors.js';
import { InstanceState, statsOf, type InstanceStats } from './instance-state.js';
import type { LoadReporter } from './load-reporter.js';
import type { ClientObserver } from './observer.js';
import type { OutcomeReporter, OutcomeReportStats } from './outcome-reporter.js';
import type { ResolvedBalancerOptions } from './options.js';
import { OutlierEjection } from './outlier-ejection.js';
import { RetryBudget } from './retry-budget.js';
import type { CatalogStats, ServiceWatch } from './service-watch.js';

/** fetch's init, plus the keys the hashing strategies read. */
export interface BalancedRequestInit extends RequestInit {
  /** ring-hash / maglev: calls with one key go to one instance while it is available. */
  sessionKey?: string;
  /** ip-hash: the key placed on the ring. */
  clientIp?: string;
}

export interface BalancerStats {
  service: string;
  strategy: string;
  /** Calls made with fetch(). */
  requests: number;
  /** Retries sent. */
  retries: number;
  /** Retries the budget refused. */
  budgetExhausted: number;
  /** Calls that ended in an error (no answer from any attempt). */
  failures: number;
  /** Instances ejected, in total. */
  ejections: number;
  catalog: CatalogStats;
  /** Outcome reports to Konsul (option reportOutcomes); absent when they are off. */
  outcomeReports?: OutcomeReportStats;
  /** The instances the balancer picks from (tag filter applied), with their counters. */
  instances: InstanceStats[];
}

/** RFC 9110 §9.2.2: methods whose repetition has the effect of one request. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** Strategies that read in-flight counts and latency from the manager's load tracker. */
const LOAD_AWARE: ReadonlySet<string> = new Set(['least-connections', 'p2c', 'latency-based']);
/** Strategies whose tables are worth building as soon as the list changes. */
const TABLE_KEYED: ReadonlySet<string> = new Set(['ring-hash', 'maglev', 'ip-hash']);
const PER_TRY_TIMEOUT = Symbol('per-try timeout');
/** fetch()'s init when the caller passes none: lets an attempt build its own init without a spread. */
const NO_INIT: BalancedRequestInit = Object.freeze({});
const CLOSED = Symbol('balancer closed');

export class Balancer extends EventEmitter {
  private candidates: Candidates;
  /** Aligned with candidates.instances. */
  private current: InstanceState[] = [];
  private readonly states = new Map<string, InstanceState>();
  /** Instances ejected or with a breaker not closed: a call asks the strategy for this many more. */
  private readonly suspects = new Set<InstanceState>();
  private readonly orderOptions: OrderOptions;
  private readonly budget: RetryBudget;
  private readonly outlier: OutlierEjection | undefined;
  private readonly loadAware: boolean;
  private readonly deadlines: AttemptDeadlines;
  private readonly counters = { requests: 0, retries: 0, budgetExhausted: 0, failures: 0, ejections: 0 };
  private readonly onUpdate = () => this.refresh();
  private readonly onSync = () => this.emit('sync');
  private readonly onStale = () => this.emit('stale');
  private closed = false;

  /** @internal Made by Konsul.balancer() / Konsul.register(). */
  constructor(
    readonly service: string,
    private readonly options: ResolvedBalancerOptions,
    private readonly watch: ServiceWatch,
    private readonly manager: StrategyManager,
    private readonly clock: Clock,
    private readonly reporter: LoadReporter | undefined,
    private readonly outcomes: OutcomeReporter | undefined,
    private readonly observer: ClientObserver | undefined,
  ) {
    super();
    try {
      manager.resolve(options.strategy);
    } catch (error) {
      throw ClientErrors.invalidOption(`strategy: ${(error as Error).message}`);
    }
    this.orderOptions = {
      strategy: options.strategy,
      limit: 1,
      healthFilter: true,
      passingOnly: options.passingOnly,
      clientRegion: options.clientRegion,
      sessionKey: undefined,
      clientIp: undefined,
    };
    this.budget = new RetryBudget(options.budgetRatio, options.budgetMinPerSecond, clock.now());
    this.outlier = options.outlier === undefined ? undefined : new OutlierEjection(options.outlier);
    this.loadAware = LOAD_AWARE.has(options.strategy);
    this.deadlines = new AttemptDeadlines(clock, PER_TRY_TIMEOUT);
    this.candidates = { key: `${service}@0`, service, instances: [], members: [] };
    watch.on('update', this.onUpdate);
    watch.on('sync', this.onSync);
    watch.on('stale', this.onStale);
    if (watch.synced) this.refresh();
  }

  /** Resolves once the service's instances are known (they may be none). */
  async ready(): Promise<void> {
    if (!(await this.watch.ready())) throw ClientErrors.closed();
  }

  /** The instances calls pick from: the tag filter applied, health not (the strategy drops critical ones). */
  instances(): readonly Instance[] {
    return this.candidates.instances;
  }

  /** The instance a call would go to first now, or undefined when none is available. Counts nothing. */
  pick(keys: { sessionKey?: string; clientIp?: string } = {}): Instance | undefined {
    const now = this.clock.now();
    for (const instance of this.order(keys.sessionKey, keys.clientIp, 1)) {
      if (this.states.get(instance.id)!.available(now)) return instance;
    }
    return undefined;
  }

  stats(): BalancerStats {
    const now = this.clock.now();
    const outlier = this.outlier;
    if (outlier !== undefined) for (const state of this.current) outlier.decay(state, now);
    return {
      service: this.service,
      strategy: this.options.strategy,
      ...this.counters,
      catalog: this.watch.stats(),
      ...(this.outcomes === undefined ? {} : { outcomeReports: this.outcomes.stats() }),
      instances: this.current.map((state) => statsOf(state, now)),
    };
  }

  /**
   * fetch() to an instance of the service: `path` (starting with "/") is appended to the
   * instance's `scheme://address:port`. Resolves with the first answer that is not retried
   * (which may be a 5xx when retries ran out); rejects with a KonsulClientError when no attempt
   * got an answer, or with the caller's abort reason when `init.signal` aborts.
   */
  async fetch(path: string, init: BalancedRequestInit = NO_INIT): Promise<Response> {
    if (this.closed) throw ClientErrors.closed();
    const options = this.options;
    const clock = this.clock;
    const deadline = clock.now() + options.timeoutMs;
    if (!this.watch.synced) await this.firstList(deadline);
    const counters = this.counters;
    counters.requests++;
    this.budget.deposit();
    const method = init.method === undefined ? 'GET' : init.method.toUpperCase();
    const retryable = replayable(init.body) && (options.retryNonIdempotent || IDEMPOTENT.has(method));
    const order = this.order(init.sessionKey, init.clientIp, 1 + options.maxRetries);
    let attempts = 0;
    let held: Response | undefined = undefined;
    let lastError: unknown = undefined;
    let lastState: InstanceState | undefined = undefined;
    for (let i = 0; i < order.length; i++) {
      const state = this.states.get(order[i].id)!;
      let now = clock.now();
      if (!state.available(now)) continue;
      if (attempts > 0) {
        // A refused connection never reached the instance: any method may go elsewhere.
        if (attempts > options.maxRetries || !(retryable || (held === undefined && refused(lastError)))) break;
        if (!replayable(init.body) || now >= deadline) break;
        if (!this.budget.withdraw(now)) {
          counters.budgetExhausted++;
          this.observer?.budgetExhausted?.(this.service);
          break;
        }
        counters.retries++;
        this.observer?.retry?.(this.service, lastState!.instance.id);
        if (held !== undefined) {
          await held.body?.cancel();
          held = undefined;
        }
        now = clock.now();
      }
      attempts++;
      lastState = state;
      const remaining = deadline - now;
      // The await is here rather than in a helper of its own: an async helper per attempt was one
      // more promise and two more microtask turns per call, for nothing the caller needs.
      const attempt = this.begin(
        state,
        init,
        remaining < options.perTryTimeoutMs ? remaining : options.perTryTimeoutMs,
      );
      try {
        attempt.response = await fetch(state.base + path, attempt.init);
      } catch (caught) {
        attempt.error = attempt.reason !== undefined ? attempt.reason : caught;
      }
      this.end(state, attempt, init.signal);
      const response = attempt.response;
      if (response !== undefined) {
        if (!options.retryOn.has(response.status)) return response;
        held = response;
        lastError = undefined;
      } else {
        if (init.signal?.aborted === true) throw init.signal.reason;
        if (attempt.error === CLOSED) throw ClientErrors.closed();
        lastError = attempt.error;
      }
    }
    if (held !== undefined) return held;
    counters.failures++;
    if (attempts === 0) throw ClientErrors.noInstance(this.service);
    if (lastError === PER_TRY_TIMEOUT && clock.now() >= deadline)
      throw ClientErrors.deadlineExceeded(this.service, options.timeoutMs);
    const error = ClientErrors.requestFailed(this.service, attempts, describeFailure(lastError));
    error.cause = lastError;
    throw error;
  }

  /** Stops following the list; calls in flight end with `closed`. */
  close(): void {
    this.closed = true;
    this.deadlines.close(CLOSED);
    this.outcomes?.close();
    this.watch.off('update', this.onUpdate);
    this.watch.off('sync', this.onSync);
    this.watch.off('stale', this.onStale);
    this.manager.close();
  }

  private async firstList(deadline: number): Promise<void> {
    const clock = this.clock;
    let timer: object | undefined = undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = clock.setTimeout(() => resolve(false), deadline - clock.now());
    });
    try {
      if (!(await Promise.race([this.watch.ready(), late]))) {
        throw this.closed ? ClientErrors.closed() : ClientErrors.notSynced(this.service);
      }
    } finally {
      clock.clearTimeout(timer!);
    }
  }

  /** The strategy's order, long enough for every attempt plus the instances that will be skipped. */
  private order(sessionKey: string | undefined, clientIp: string | undefined, attempts: number): Instance[] {
    const now = this.clock.now();
    const suspects = this.suspects;
    if (suspects.size > 0) {
      for (const state of suspects) {
        if (state.ejectedUntil <= now && (state.breaker === undefined || state.breaker.state === 'closed'))
          suspects.delete(state);
      }
    }
    const orderOptions = this.orderOptions;
    orderOptions.sessionKey = sessionKey;
    orderOptions.clientIp = clientIp;
    orderOptions.limit = attempts + suspects.size;
    try {
      return this.manager.order(this.candidates, orderOptions).instances;
    } catch (error) {
      if (error instanceof KonsulError) throw ClientErrors.invalidOption(error.message);
      throw error;
    }
  }

  /** Starts an attempt on `state`: its init for fetch, its per-try timeout, the counts. */
  private begin(state: InstanceState, init: BalancedRequestInit, timeoutMs: number): Attempt {
    const clock = this.clock;
    const attempt = new Attempt(clock.now() + timeoutMs, (init as { dispatcher?: Dispatcher }).dispatcher);
    // fetch takes any object with undici's dispatch(): RequestInit's type names undici's whole Dispatcher class.
    if (usesDispatcherRoute()) {
      // The caller's signal, if any, goes to fetch untouched; the timeout goes through the attempt.
      attempt.init = init === NO_INIT ? { dispatcher: attempt } : { ...init, dispatcher: attempt };
    } else {
      const signal = attempt.signalled();
      const callerSignal = init.signal;
      attempt.init = {
        ...init,
        signal: callerSignal === undefined || callerSignal === null ? signal : AbortSignal.any([callerSignal, signal]),
      };
    }
    this.deadlines.start(attempt);
    state.requests++;
    state.inFlight++;
    state.breaker?.begin(clock.now());
    const load = state.load;
    if (load !== undefined) load.connections = state.inFlight;
    attempt.started = performance.now();
    return attempt;
  }

  /** The attempt has its response or error: counts, latency, passive health, load reports. */
  private end(state: InstanceState, attempt: Attempt, callerSignal: AbortSignal | null | undefined): void {
    this.deadlines.finish(attempt);
    const elapsedMs = performance.now() - attempt.started;
    state.inFlight--;
    const response = attempt.response;
    const error = attempt.error;
    const callerAborted = error !== undefined && (callerSignal?.aborted === true || error === CLOSED);
    if (!callerAborted) this.record(state, response === undefined || response.status >= 500, elapsedMs);
    const load = state.load;
    if (load !== undefined) {
      load.connections = state.inFlight;
      if (response !== undefined) this.manager.observeLatency(load, elapsedMs);
    }
    this.reporter?.maybeReport(state, this.clock.now());
  }

  private record(state: InstanceState, failed: boolean, elapsedMs: number): void {
    const now = this.clock.now();
    if (!failed) state.observeLatency(elapsedMs);
    this.observer?.attempt?.(this.service, state.instance.id, failed ? 'failure' : 'success', elapsedMs / 1000);
    this.outcomes?.record(state.instance.id, failed);
    const outlier = this.outlier;
    if (failed) {
      state.failures++;
      if (outlier !== undefined && outlier.failed(state, this.current, now)) {
        this.counters.ejections++;
        this.suspects.add(state);
        this.observer?.ejected?.(this.service, state.instance.id, state.ejectedUntil);
        this.emit('eject', state.instance, state.ejectedUntil);
      }
    } else {
      outlier?.succeeded(state);
    }
    if (state.breaker?.record(!failed, now) === true) {
      this.suspects.add(state);
      this.observer?.breakerOpened?.(this.service, state.instance.id);
      this.emit('open', state.instance);
    }
  }

  /** A new list from the watch: new candidates, states for new instances, tables built now. */
  private refresh(): void {
    const watch = this.watch;
    const all = watch.instances;
    const tags = this.options.tags;
    const instances =
      tags.length === 0 ? all : all.filter((instance) => tags.every((tag) => instance.tags.includes(tag)));
    const seen = new Set<string>();
    const current: InstanceState[] = [];
    for (const instance of instances) {
      let state = this.states.get(instance.id);
      if (state === undefined) {
        state = new InstanceState(instance, this.options.breaker, this.options.scheme);
        if (this.loadAware) state.load = this.manager.liveLoad(instance.id);
        this.states.set(instance.id, state);
      } else {
        state.update(instance, this.options.scheme);
      }
      seen.add(instance.id);
      current.push(state);
    }
    for (const [id, state] of this.states) {
      if (seen.has(id)) continue;
      this.states.delete(id);
      this.suspects.delete(state);
      this.manager.forgetInstance(id);
    }
    this.current = current;
    this.candidates = {
      key: `${this.service}@${watch.stats().index}|${tags.join(',')}`,
      service: this.service,
      instances,
      members: all,
    };
    if (TABLE_KEYED.has(this.options.strategy) && instances.length > 0) {
      // Build the ring or table now, off the request path, so the first sticky call finds it.
      this.order('konsul-client', '127.0.0.1', 1);
    }
    this.emit('update', instances);
  }
}

/** Bodies fetch can send again: undici re-extracts them per request. A stream can be read once. */
function replayable(body: RequestInit['body']): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof URLSearchParams ||
    body instanceof Blob ||
    body instanceof FormData
  );
}

/** The connection was refused: the request never reached the instance. */
function refused(error: unknown): boolean {
  return error instanceof Error && (error.cause as { code?: unknown } | undefined)?.code === 'ECONNREFUSED';
}

function describeFailure(error: unknown): string {
  if (error === PER_TRY_TIMEOUT) return 'the last attempt timed out';
  if (error instanceof KonsulClientError) return error.message;
  if (!(error instanceof Error)) return String(error);
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? `${error.message} (${code})` : error.message;
}

/**
 * What a user passes to `new Konsul()`, `konsul.balancer()` and `konsul.register()`, the
 * defaults, and the one place that checks them: a bad option throws `invalid_option` at the
 * call that took it, never later on a request. Durations are strings (`250ms`, `10s`), parsed
 * by src/duration.ts like every duration in Konsul.
 */
import { parseDuration } from '../duration.js';
import { ClientErrors } from './errors.js';

export interface KonsulOptions {
  /** Konsul HTTP base URLs. Several (cluster mode): the client fails over between them. */
  urls: readonly string[];
  /** Sent as `Authorization: Bearer` on every call to Konsul. */
  token?: string | undefined;
  /** Timeout of a call to Konsul that is not a blocking query. Default `5s`. */
  requestTimeout?: string;
  /** How long a blocking query waits for a change. Default `60s` (the server adds up to wait/16 of jitter). */
  wait?: string;
  /** First delay after a failed catalog or heartbeat call; doubles up to `retryMax`, with jitter. Default `250ms`. */
  retryBase?: string;
  /** Longest delay between retries of a failed catalog or heartbeat call. Default `10s`. */
  retryMax?: string;
  /** Deregister every registration on SIGTERM and SIGINT, then let the signal do what it would have done. Default true. */
  handleSignals?: boolean;
}

export interface RetryBudgetOptions {
  /** Retries allowed as a share of requests. Default 0.2 (Finagle's default). */
  ratio?: number;
  /** Retries allowed per second whatever the traffic, so a quiet service can still retry. Default 10. */
  minPerSecond?: number;
}

export interface OutlierOptions {
  /** Consecutive failures (connection errors, timeouts, 5xx) that eject an instance. Default 5. */
  consecutiveFailures?: number;
  /** Ejection time is baseEjectionTime × the instance's ejection multiplier (its ejections, less decay). Default `30s`. */
  baseEjectionTime?: string;
  /** Longest ejection, at least baseEjectionTime. Default `300s`. */
  maxEjectionTime?: string;
  /** Each full interval an instance spends not ejected lowers its ejection multiplier by one. Default `10s` (Envoy's). */
  interval?: string;
  /** Most instances ejected at once, in percent of the service. Default 50. */
  maxEjectionPercent?: number;
}

export interface BreakerOptions {
  /** Outcomes remembered per instance. Default 20. */
  window?: number;
  /** Outcomes needed before the breaker may open. Default 10. */
  minRequests?: number;
  /** Failure share of the window that opens the breaker. Default 0.5. */
  failureRatio?: number;
  /** How long an open breaker refuses calls before it lets a probe through. Default `10s`. */
  openTime?: string;
  /** Probes allowed at once while half-open. Default 1. */
  halfOpenProbes?: number;
}

export interface LoadReportOptions {
  /** Shortest time between two reports for one instance. Default `5s`. */
  interval?: string;
}

export interface OutcomeReportOptions {
  /** How often the counts gathered per instance are sent, one POST per instance. Default `1s`. */
  interval?: string;
  /** Most instances with counts waiting to be sent; outcomes of others are dropped and counted. Default 1024. */
  maxPending?: number;
}

export interface BalancerOptions {
  /** A Konsul strategy (docs/load-balancing.md). Default `round-robin`. */
  strategy?: string;
  /** Only instances carrying every one of these tags. */
  tag?: string | readonly string[];
  /** Leave out warning instances too (critical ones are always left out). Default false. */
  passingOnly?: boolean;
  /** Scheme of the URLs built from instances. Default `http`. */
  scheme?: 'http' | 'https';
  /** latency-based: the caller's region. */
  clientRegion?: string;
  /** Timeout of one attempt, until the response headers. Default `2s`. */
  perTryTimeout?: string;
  /** Deadline of the whole call, retries included, until the response headers. Default `10s`. */
  timeout?: string;
  /** Attempts after the first. Default 2. */
  maxRetries?: number;
  /** Statuses retried on the next instance. Default [502, 503, 504]. */
  retryOn?: readonly number[];
  /** Retry POST and PATCH after a failure other than a refused connection. Default false. */
  retryNonIdempotent?: boolean;
  retryBudget?: RetryBudgetOptions;
  outlier?: OutlierOptions | false;
  breaker?: BreakerOptions | false;
  /** Report in-flight requests and latency per instance to Konsul (`PUT /catalog/instances/:id/load`). Default off. */
  reportLoad?: LoadReportOptions | false;
  /**
   * Report each attempt's success or failure per instance to Konsul
   * (`POST /catalog/instances/:id/outcomes`), for the server's outlier ejection. Default off.
   */
  reportOutcomes?: OutcomeReportOptions | false;
}

export interface RegisterOptions {
  /** TTL of the check the registration carries; heartbeats go every ttl/3. Default `10s`. */
  ttl?: string;
}

export interface ResolvedKonsulOptions {
  urls: string[];
  token: string | undefined;
  requestTimeoutMs: number;
  waitMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  handleSignals: boolean;
}

export interface ResolvedOutlier {
  consecutiveFailures: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  intervalMs: number;
  maxEjectionPercent: number;
}

export interface ResolvedBreaker {
  window: number;
  minRequests: number;
  failureRatio: number;
  openMs: number;
  halfOpenProbes: number;
}

export interface ResolvedBalancerOptions {
  strategy: string;
  tags: string[];
  passingOnly: boolean;
  scheme: 'http' | 'https';
  clientRegion: string | undefined;
  perTryTimeoutMs: number;
  timeoutMs: number;
  maxRetries: number;
  retryOn: ReadonlySet<number>;
  retryNonIdempotent: boolean;
  budgetRatio: number;
  budgetMinPerSecond: number;
  outlier: ResolvedOutlier | undefined;
  breaker: ResolvedBreaker | undefined;
  reportLoadMs: number | undefined;
  reportOutcomes: { intervalMs: number; maxPending: number } | undefined;
}

/** setTimeout's range: a longer duration would fire at once. */
const MAX_DURATION_MS = 2_147_483_647;

function duration(name: string, value: string | undefined, fallback: string, min = 1): number {
  const text = value ?? fallback;
  const ms = typeof text === 'string' ? parseDuration(text) : undefined;
  if (ms === undefined || ms < min || ms > MAX_DURATION_MS)
    throw ClientErrors.invalidOption(
      `${name}: expected a duration such as "10s" of at least ${min} ms, got ${JSON.stringify(text)}`,
    );
  return ms;
}

function number(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
  integer = false,
): number {
  const n = value ?? fallback;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n)))
    throw ClientErrors.invalidOption(
      `${name}: expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${String(n)}`,
    );
  return n;
}

function object<T>(name: string, value: T | undefined): T | Record<string, never> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) throw ClientErrors.invalidOption(`${name}: expected an object`);
  return value;
}

export function resolveKonsulOptions(options: KonsulOptions): ResolvedKonsulOptions {
  if (typeof (options as unknown) !== 'object' || (options as unknown) === null)
    throw ClientErrors.invalidOption('options: expected an object');
  const urls = Array.isArray(options.urls) ? (options.urls as unknown[]) : [];
  if (urls.length === 0 || urls.length > 64) throw ClientErrors.invalidOption('urls: expected 1 to 64 Konsul URLs');
  const resolvedUrls = urls.map((url, i) => {
    let parsed: URL;
    try {
      parsed = new URL(String(url));
    } catch {
      throw ClientErrors.invalidOption(`urls[${i}]: not a URL: ${JSON.stringify(url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw ClientErrors.invalidOption(`urls[${i}]: expected http or https, got ${parsed.protocol}`);
    return parsed.href.replace(/\/+$/, '');
  });
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length > 4096))
    throw ClientErrors.invalidOption('token: expected a string of at most 4096 characters');
  const retryBaseMs = duration('retryBase', options.retryBase, '250ms');
  return {
    urls: resolvedUrls,
    token: options.token === '' ? undefined : options.token,
    requestTimeoutMs: duration('requestTimeout', options.requestTimeout, '5s'),
    waitMs: duration('wait', options.wait, '60s', 1000),
    retryBaseMs,
    retryMaxMs: duration('retryMax', options.retryMax, '10s', retryBaseMs),
    handleSignals: options.handleSignals ?? true,
  };
}

/** 1–255 characters, no C0 or C1 control (the server's tag rule, docs/api.md). */
// eslint-disable-next-line no-control-regex
const TAG = /^[^\u0000-\u001f\u007f-\u009f]{1,255}$/;

export function resolveBalancerOptions(service: string, options: BalancerOptions): ResolvedBalancerOptions {
  if (typeof service !== 'string' || !/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(service))
    throw ClientErrors.invalidOption(`service: expected a DNS label, got ${JSON.stringify(service)}`);
  const tags = options.tag === undefined ? [] : typeof options.tag === 'string' ? [options.tag] : [...options.tag];
  for (const tag of tags)
    if (typeof tag !== 'string' || !TAG.test(tag))
      throw ClientErrors.invalidOption(`tag: not a tag: ${JSON.stringify(tag)}`);
  const scheme = options.scheme ?? 'http';
  if ((scheme as string) !== 'http' && scheme !== 'https')
    throw ClientErrors.invalidOption(`scheme: expected http or https`);
  const retryOn = options.retryOn ?? [502, 503, 504];
  for (const status of retryOn) number('retryOn[]', status, 0, 100, 599, true);
  const budget = object('retryBudget', options.retryBudget);
  const outlier = options.outlier === false ? undefined : object('outlier', options.outlier);
  const breaker = options.breaker === false ? undefined : object('breaker', options.breaker);
  const report =
    options.reportLoad === undefined || options.reportLoad === false
      ? undefined
      : object('reportLoad', options.reportLoad);
  const outcomes =
    options.reportOutcomes === undefined || options.reportOutcomes === false
      ? undefined
      : object('reportOutcomes', options.reportOutcomes);
  const baseEjectionMs =
    outlier === undefined ? 0 : duration('outlier.baseEjectionTime', outlier.baseEjectionTime, '30s');
  const window = breaker === undefined ? 0 : number('breaker.window', breaker.window, 20, 1, 1000, true);
  return {
    strategy: options.strategy ?? 'round-robin',
    tags,
    passingOnly: options.passingOnly ?? false,
    scheme,
    clientRegion: options.clientRegion,
    perTryTimeoutMs: duration('perTryTimeout', options.perTryTimeout, '2s'),
    timeoutMs: duration('timeout', options.timeout, '10s'),
    maxRetries: number('maxRetries', options.maxRetries, 2, 0, 10, true),
    retryOn: new Set(retryOn),
    retryNonIdempotent: options.retryNonIdempotent ?? false,
    budgetRatio: number('retryBudget.ratio', budget.ratio, 0.2, 0, 1),
    budgetMinPerSecond: number('retryBudget.minPerSecond', budget.minPerSecond, 10, 0, 1_000_000),
    outlier:
      outlier === undefined
        ? undefined
        : {
            consecutiveFailures: number('outlier.consecutiveFailures', outlier.consecutiveFailures, 5, 1, 1000, true),
            baseEjectionMs,
            maxEjectionMs: duration('outlier.maxEjectionTime', outlier.maxEjectionTime, '300s', baseEjectionMs),
            intervalMs: duration('outlier.interval', outlier.interval, '10s'),
            maxEjectionPercent: number('outlier.maxEjectionPercent', outlier.maxEjectionPercent, 50, 0, 100),
          },
    breaker:
      breaker === undefined
        ? undefined
        : {
            window,
            minRequests: number('breaker.minRequests', breaker.minRequests, Math.min(10, window), 1, window, true),
            failureRatio: number('breaker.failureRatio', breaker.failureRatio, 0.5, 0, 1),
            openMs: duration('breaker.openTime', breaker.openTime, '10s'),
            halfOpenProbes: number('breaker.halfOpenProbes', breaker.halfOpenProbes, 1, 1, 1000, true),
          },
    reportLoadMs: report === undefined ? undefined : duration('reportLoad.interval', report.interval, '5s', 100),
    reportOutcomes:
      outcomes === undefined
        ? undefined
        : {
            intervalMs: duration('reportOutcomes.interval', outcomes.interval, '1s', 100),
            maxPending: number('reportOutcomes.maxPending', outcomes.maxPending, 1024, 1, 1_000_000, true),
          },
  };
}

export function resolveTtl(options: RegisterOptions): { ttl: string; ttlMs: number } {
  const ttl = options.ttl ?? '10s';
  return { ttl, ttlMs: duration('ttl', ttl, '10s', 1000) };
}

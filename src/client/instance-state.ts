/**
 * What a balancer knows about one instance beyond the catalog: its traffic counters, its
 * latency (EWMA), its passive-health state (outlier ejection, circuit breaker). Kept per
 * instance id across list changes (a health flip or a new weight keeps the counters); dropped
 * when the instance leaves the list, so the state stays bounded by the service's size.
 */
import type { Instance } from '../catalog/types.js';
import type { LoadRecord } from '../lb/load-tracker.js';
import { CircuitBreaker } from './circuit-breaker.js';
import type { ResolvedBreaker } from './options.js';

/** Weight of a new latency sample in the EWMA, as the server's lb.latencyEwmaAlpha default. */
const LATENCY_ALPHA = 0.3;

export class InstanceState {
  requests = 0;
  failures = 0;
  inFlight = 0;
  /** EWMA of time to response headers, in ms; NaN before the first answer. */
  latencyMs = Number.NaN;
  /** Outlier ejection: failures since the last success. */
  consecutiveFailures = 0;
  /** Times ejected, in total (stats). */
  ejections = 0;
  /** Outlier ejection: the next ejection lasts base × (this + 1); lowered while the instance stays in. */
  ejectionMultiplier = 0;
  /** Epoch ms from which the next decay step of ejectionMultiplier is counted. */
  multiplierDecayedAt = 0;
  /** Epoch ms until which the instance is ejected; 0 when it is not. */
  ejectedUntil = 0;
  /** Load reports: epoch ms of the last one sent, and whether one is in flight. */
  reportedAt = Number.NEGATIVE_INFINITY;
  reporting = false;
  readonly breaker: CircuitBreaker | undefined;
  /**
   * The strategy manager's load record of the instance, for the strategies that read load
   * (least-connections, p2c, latency-based); undefined for the others. The balancer writes its
   * in-flight count and latency into it at each attempt's start and end.
   * @internal Not in the package's types: they would reach the server's (lb/types, config).
   */
  load: LoadRecord | undefined = undefined;
  /** `scheme://address:port`, built once per list change; a call appends its path. */
  base: string;

  constructor(
    public instance: Instance,
    breaker: ResolvedBreaker | undefined,
    scheme: string,
  ) {
    this.breaker = breaker === undefined ? undefined : new CircuitBreaker(breaker);
    this.base = baseUrl(instance, scheme);
  }

  /** The catalog sent a newer copy of the instance (health, weight, address…). */
  update(instance: Instance, scheme: string): void {
    this.instance = instance;
    this.base = baseUrl(instance, scheme);
  }

  /** Neither ejected nor behind an open breaker at `now`. */
  available(now: number): boolean {
    if (this.ejectedUntil > now) return false;
    return this.breaker === undefined || this.breaker.available(now);
  }

  observeLatency(ms: number): void {
    const latency = this.latencyMs;
    this.latencyMs = Number.isNaN(latency) ? ms : LATENCY_ALPHA * ms + (1 - LATENCY_ALPHA) * latency;
  }
}

function baseUrl(instance: Instance, scheme: string): string {
  // RFC 3986 §3.2.2: an IPv6 literal goes in brackets.
  const host = instance.address.includes(':') ? `[${instance.address}]` : instance.address;
  return `${scheme}://${host}:${instance.port}`;
}

export interface InstanceStats {
  id: string;
  address: string;
  port: number;
  status: Instance['status'];
  requests: number;
  failures: number;
  inFlight: number;
  /** EWMA of time to response headers, in ms; null before the first answer. */
  latencyMs: number | null;
  ejections: number;
  /** Outlier ejection: the current multiplier of baseEjectionTime (decayed to now); 0 when it has none. */
  ejectionMultiplier: number;
  /** Epoch ms the current ejection ends, or null when not ejected. */
  ejectedUntil: number | null;
  breaker: 'closed' | 'open' | 'half-open' | 'off';
}

export function statsOf(state: InstanceState, now: number): InstanceStats {
  return {
    id: state.instance.id,
    address: state.instance.address,
    port: state.instance.port,
    status: state.instance.status,
    requests: state.requests,
    failures: state.failures,
    inFlight: state.inFlight,
    latencyMs: Number.isNaN(state.latencyMs) ? null : state.latencyMs,
    ejections: state.ejections,
    ejectionMultiplier: state.ejectionMultiplier,
    ejectedUntil: state.ejectedUntil > now ? state.ejectedUntil : null,
    breaker: state.breaker?.state ?? 'off',
  };
}

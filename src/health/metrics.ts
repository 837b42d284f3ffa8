import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { HEALTH_STATUSES, type CheckType, type HealthStatus } from '../catalog/types.js';

const CHECK_TYPES: readonly CheckType[] = ['http', 'tcp', 'ttl'];

/** The in-flight reader of the manager that last registered on each registry (see metric()). */
const inFlightReaders = new WeakMap<Registry, () => number>();

/**
 * The health manager's figures. Label children are resolved once here, so recording a result
 * on the hot path (a thousand per second in the benchmark) is a map lookup, not a label hash.
 */
export class HealthMetrics {
  private readonly results = new Map<string, Counter.Internal>();
  private readonly durations = new Map<CheckType, Histogram.Internal<'type'>>();
  private readonly statusChanges: Counter<'from' | 'to'>;
  private readonly lag: Histogram;
  private readonly localErrors: Counter<'type' | 'code'>;

  constructor(registry: Registry, inFlight: () => number) {
    inFlightReaders.set(registry, inFlight);
    const results = metric(
      registry,
      'konsul_health_checks_total',
      () =>
        new Counter({
          name: 'konsul_health_checks_total',
          help: 'Check results, by check type and the status the run found (before thresholds)',
          labelNames: ['type', 'status'],
          registers: [registry],
        }),
    );
    const durations = metric(
      registry,
      'konsul_health_check_duration_seconds',
      () =>
        new Histogram({
          name: 'konsul_health_check_duration_seconds',
          help: 'Time one http or tcp check run took, by check type',
          labelNames: ['type'],
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers: [registry],
        }),
    );
    this.statusChanges = metric(
      registry,
      'konsul_health_status_changes_total',
      () =>
        new Counter({
          name: 'konsul_health_status_changes_total',
          help: 'Check status changes, by previous and new status',
          labelNames: ['from', 'to'],
          registers: [registry],
        }),
    );
    metric(
      registry,
      'konsul_health_checks_in_flight',
      () =>
        new Gauge({
          name: 'konsul_health_checks_in_flight',
          help: 'http and tcp checks running now',
          registers: [registry],
          collect() {
            this.set(inFlightReaders.get(registry)?.() ?? 0);
          },
        }),
    );
    this.lag = metric(
      registry,
      'konsul_health_check_lag_seconds',
      () =>
        new Histogram({
          name: 'konsul_health_check_lag_seconds',
          help: 'Actual minus planned start of a check run, including time queued behind health.maxConcurrent',
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
          registers: [registry],
        }),
    );
    this.localErrors = metric(
      registry,
      'konsul_health_check_local_errors_total',
      () =>
        new Counter({
          name: 'konsul_health_check_local_errors_total',
          help: 'Check runs that failed on this host (EMFILE, ENOBUFS, ...) and left the status as it was, by check type and code',
          labelNames: ['type', 'code'],
          registers: [registry],
        }),
    );
    for (const type of CHECK_TYPES) {
      this.durations.set(type, durations.labels({ type }));
      for (const status of HEALTH_STATUSES) {
        const child = results.labels({ type, status });
        // Every series exists from the start at 0, so rate() and alerts see the first result.
        child.inc(0);
        this.results.set(`${type}:${status}`, child);
      }
    }
  }

  result(type: CheckType, status: HealthStatus): void {
    this.results.get(`${type}:${status}`)!.inc();
  }

  duration(type: CheckType, seconds: number): void {
    this.durations.get(type)!.observe(seconds);
  }

  statusChange(from: HealthStatus, to: HealthStatus): void {
    this.statusChanges.inc({ from, to });
  }

  localError(type: CheckType, code: string): void {
    this.localErrors.inc({ type, code });
  }

  startLag(seconds: number): void {
    this.lag.observe(seconds);
  }
}

/**
 * The metric already in `registry` under `name`, or a new one. A server that builds a second
 * manager on the same registry (a restart within one process) then shares the series instead
 * of failing on a duplicate name, and the in-flight gauge reads the newest manager.
 */
function metric<M>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

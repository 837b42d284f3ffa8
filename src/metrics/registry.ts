import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Catalog } from '../catalog/catalog.js';
import { HEALTH_STATUSES } from '../catalog/types.js';
import { VERSION } from '../version.js';
import { LabelledCounter, LabelledHistogram } from './labelled.js';

/**
 * One registry per server (not prom-client's global one), so several servers in one process,
 * as in the tests, keep their figures apart. Each part adds its own metrics to `registry`.
 */
export interface Metrics {
  registry: Registry;
  /** Labels: method, route, status. */
  httpRequests: LabelledCounter;
  /** Labels: method, route. */
  httpDuration: LabelledHistogram;
}

/**
 * How often konsul_nodejs_eventloop_lag_* samples the loop (prom-client's default). Node records
 * the whole time between two samples, so an idle loop reads about this much: a stall is what a
 * reading exceeds it by.
 */
export const EVENT_LOOP_SAMPLE_MS = 10;

/**
 * Bounds of konsul_nodejs_gc_duration_seconds. prom-client's default buckets go from 1 ms
 * straight to 10 ms, which cannot tell a 2 ms scavenge from a 9 ms one; a pause is what stands
 * between a request and the loop, so the buckets follow the milliseconds a stall is judged in.
 */
export const GC_PAUSE_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1];

export function createMetrics(catalog: Catalog): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({
    register: registry,
    prefix: 'konsul_',
    eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
    gcDurationBuckets: GC_PAUSE_BUCKETS_SECONDS,
  });
  // These default gauges end in _total, which Prometheus reserves for counters (promtool
  // rejects them); the per-type gauges konsul_nodejs_active_{handles,requests,resources} stay.
  for (const kind of ['handles', 'requests', 'resources'])
    registry.removeSingleMetric(`konsul_nodejs_active_${kind}_total`);

  new Gauge({
    name: 'konsul_build_info',
    help: 'Always 1; labels carry the Konsul and Node.js versions',
    labelNames: ['version', 'node'],
    registers: [registry],
  }).set({ version: VERSION, node: process.version }, 1);

  new Gauge({
    name: 'konsul_catalog_index',
    help: 'Highest catalog index committed',
    registers: [registry],
    collect() {
      this.set(catalog.index);
    },
  });
  new Gauge({
    name: 'konsul_catalog_services',
    help: 'Services with at least one registered instance',
    registers: [registry],
    collect() {
      this.set(catalog.summaries().length);
    },
  });
  new Gauge({
    name: 'konsul_catalog_instances',
    help: 'Registered instances by health status',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      const counts = { passing: 0, warning: 0, critical: 0 };
      for (const instance of catalog.allInstances()) counts[instance.status]++;
      for (const status of HEALTH_STATUSES) this.set({ status }, counts[status]);
    },
  });
  new Gauge({
    name: 'konsul_catalog_instances_in_maintenance',
    help: 'Instances an operator holds out of answers (maintenance mode), per service',
    labelNames: ['service'],
    registers: [registry],
    collect() {
      // Reset first: a service whose last instance left maintenance must not keep its old value.
      this.reset();
      for (const [service, count] of catalog.maintenanceCounts()) this.set({ service }, count);
    },
  });
  new Gauge({
    name: 'konsul_catalog_tombstones',
    help: 'Services with no instance whose index is kept until catalog.tombstoneTtl passes',
    registers: [registry],
    collect() {
      this.set(catalog.tombstoneCount);
    },
  });
  // They describe the SQLite file. A shared store (etcd) keeps nothing unstored and its refusals
  // reach the writer; the konsul_cluster_* and konsul_etcd_* families tell how etcd is doing.
  if (!catalog.replicated) {
    new Gauge({
      name: 'konsul_storage_healthy',
      help: '1 while the data file takes writes, 0 from a failed commit until one succeeds again',
      registers: [registry],
      collect() {
        this.set(catalog.storage.failure === null ? 1 : 0);
      },
    });
    new Counter({
      name: 'konsul_storage_failed_commits_total',
      help: 'Commits the data file refused (client writes, check results and retries alike)',
      registers: [registry],
      collect() {
        // The catalog holds the count; a counter set on scrape keeps it a counter for Prometheus.
        this.reset();
        this.inc(catalog.storage.failedCommits);
      },
    });
    new Gauge({
      name: 'konsul_storage_unpersisted_checks',
      help: 'Check results served from memory that the data file has not taken yet',
      registers: [registry],
      collect() {
        this.set(catalog.storage.unpersisted);
      },
    });
  }
  new Gauge({
    name: 'konsul_blocking_queries',
    help: 'Blocking queries held open now',
    registers: [registry],
    collect() {
      this.set(catalog.waiting);
    },
  });

  return {
    registry,
    httpRequests: new LabelledCounter({
      name: 'konsul_http_requests_total',
      help: 'HTTP requests answered, by route template and status',
      labelNames: ['method', 'route', 'status'],
      registry,
    }),
    httpDuration: new LabelledHistogram({
      name: 'konsul_http_request_duration_seconds',
      help: 'Time from request to response, by route template',
      labelNames: ['method', 'route'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registry,
    }),
  };
}

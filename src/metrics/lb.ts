import { Counter, Gauge, type Registry } from 'prom-client';
import type { LbObserver } from '../lb/types.js';
import { LabelledCounter, LabelledHistogram } from './labelled.js';

/** What a service label may name: the catalog's services, never a name a client made up. */
export type KnownService = (service: string) => boolean;
const OTHER_SERVICE = '(unknown)';

/** The observer, and the removal of a forgotten service's series, which src/lb never asks for. */
export interface LbMetrics extends LbObserver {
  /** Drops every series labelled with one of these services (the catalog forgot them). */
  forgetServices(services: readonly string[]): void;
  /** Where the gauge of ejected instances reads from (the manager is made after the observer). */
  ejectedInstances(counts: () => ReadonlyMap<string, number>): void;
}

/**
 * The strategy manager reports through this observer, so src/lb stays free of prom-client.
 * Label values stay bounded: a queried name the catalog never held is counted as
 * "(unknown)", a deregistered instance's series is removed, and so are a service's series
 * once the catalog forgets the service (its tombstone TTL after its last instance left).
 */
export function createLbObserver(registry: Registry, isKnown: KnownService): LbMetrics {
  // Counted on every answer, so on the cheap path (see labelled.ts).
  const selections = new LabelledCounter({
    name: 'konsul_lb_selections_total',
    help: 'Ordered answers produced, by service, strategy and result',
    labelNames: ['service', 'strategy', 'result'],
    registry,
  });
  const duration = new LabelledHistogram({
    name: 'konsul_lb_selection_duration_seconds',
    help: 'Time the strategy manager spent ordering one answer',
    labelNames: ['strategy'],
    buckets: [1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 1e-3, 1e-2],
    registry,
  });
  const connections = new Gauge({
    name: 'konsul_lb_instance_connections',
    help: 'Active connections an instance last reported',
    labelNames: ['service', 'instance'],
    registers: [registry],
  });
  const healthFiltered = new Counter({
    name: 'konsul_lb_health_filtered_total',
    help: 'Instances left out of answers for their health',
    labelNames: ['service'],
    registers: [registry],
  });
  const panics = new Counter({
    name: 'konsul_lb_panic_total',
    help: 'Answers given in panic mode (healthy share under lb.panicThreshold)',
    labelNames: ['service'],
    registers: [registry],
  });
  const splits = new Counter({
    name: 'konsul_lb_split_answers_total',
    help: 'Answers of split services, by the side (tag) their first positions went to',
    labelNames: ['service', 'side'],
    registers: [registry],
  });
  const ejections = new Counter({
    name: 'konsul_lb_ejections_total',
    help: 'Instances ejected from answers by outlier detection, by service and rule',
    labelNames: ['service', 'reason'],
    registers: [registry],
  });
  let ejectedCounts: () => ReadonlyMap<string, number> = () => new Map();
  new Gauge({
    name: 'konsul_lb_ejected_instances',
    help: 'Instances out of answers by outlier detection now, per service',
    labelNames: ['service'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [service, count] of ejectedCounts()) this.set({ service }, count);
    },
  });
  const label = (service: string) => (isKnown(service) ? service : OTHER_SERVICE);
  return {
    selection(service, strategy, result, seconds) {
      selections.inc(label(service), strategy, result);
      duration.observe(seconds, strategy);
    },
    healthFiltered(service, count) {
      healthFiltered.inc({ service: label(service) }, count);
    },
    panic(service) {
      panics.inc({ service: label(service) });
    },
    ejected(service, _instance, reason) {
      ejections.inc({ service: label(service), reason });
    },
    ejectedInstances(counts) {
      ejectedCounts = counts;
    },
    split(service, side) {
      // Sides are tags from the service's config, at most 16 per service: a bounded label set.
      splits.inc({ service: label(service), side });
    },
    connections(service, instance, count) {
      connections.set({ service, instance }, count);
    },
    instanceRemoved(service, instance) {
      connections.remove({ service, instance });
    },
    forgetServices(services) {
      selections.removeWhereFirstLabelIn(new Set(services));
      for (const service of services) {
        healthFiltered.remove({ service });
        panics.remove({ service });
        splits.remove({ service });
        for (const reason of ['consecutive-failures', 'success-rate']) ejections.remove({ service, reason });
      }
    },
  };
}

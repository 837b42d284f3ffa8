import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { EtcdStore } from './etcd-store.js';
import type { LoadSync } from './load-sync.js';

/** Cluster-mode metrics: what this node can do and how far behind etcd it is. */
export function registerClusterMetrics(registry: Registry, store: EtcdStore): void {
  new Gauge({
    name: 'konsul_cluster_members',
    help: 'Live Konsul nodes in the cluster (membership keys on etcd leases), as of the last probe',
    registers: [registry],
    collect() {
      this.set(store.cluster().members.length);
    },
  });
  new Gauge({
    name: 'konsul_cluster_known_leader',
    help: '1 when etcd (with a leader) answered recently enough for writes to be accepted, else 0',
    registers: [registry],
    collect() {
      this.set(store.contact().knownLeader ? 1 : 0);
    },
  });
  new Gauge({
    name: 'konsul_cluster_last_contact_seconds',
    help: 'Seconds since etcd last answered this node',
    registers: [registry],
    collect() {
      const { lastContactMs } = store.contact();
      this.set(lastContactMs < 0 ? -1 : lastContactMs / 1000);
    },
  });
  new Gauge({
    name: 'konsul_cluster_revision',
    help: 'etcd revision: the newest etcd reported (store) and the one this node’s view holds everything up to (view)',
    labelNames: ['of'],
    registers: [registry],
    collect() {
      const { storeRevision, viewRevision } = store.contact();
      this.set({ of: 'store' }, storeRevision);
      this.set({ of: 'view' }, viewRevision);
    },
  });
  new Gauge({
    name: 'konsul_cluster_watch_lag_revisions',
    help: 'Revisions etcd is ahead of this node’s view (0 when current)',
    registers: [registry],
    collect() {
      const { storeRevision, viewRevision } = store.contact();
      this.set(Math.max(storeRevision - viewRevision, 0));
    },
  });
  new Counter({
    name: 'konsul_cluster_relists_total',
    help: 'Full listings of the catalog from etcd (the first one, then one per broken watch)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(store.stats.relists);
    },
  });
  const requests = new Counter({
    name: 'konsul_etcd_requests_total',
    help: 'etcd requests by kind (txn, range, status, member-list) and result (ok, error)',
    labelNames: ['kind', 'result'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'konsul_etcd_request_duration_seconds',
    help: 'Time etcd requests took, by kind',
    labelNames: ['kind'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  store.stats.onRequest = (kind, seconds, ok) => {
    requests.inc({ kind, result: ok ? 'ok' : 'error' });
    latency.observe({ kind }, seconds);
  };
}

/** How load reports are shared between the nodes (src/cluster/load-sync.ts). */
export function registerLoadSyncMetrics(registry: Registry, loads: LoadSync): void {
  new Gauge({
    name: 'konsul_cluster_load_pending',
    help: 'Instances whose latest load report waits for the next flush to etcd',
    registers: [registry],
    collect() {
      this.set(loads.pendingCount);
    },
  });
  new Counter({
    name: 'konsul_cluster_load_flushes_total',
    help: 'etcd transactions writing load reports, by result (ok, error)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ result: 'ok' }, loads.flushes);
      this.inc({ result: 'error' }, loads.failedFlushes);
    },
  });
  new Counter({
    name: 'konsul_cluster_load_reports_dropped_total',
    help: 'Load reports applied on this node but not shared because store.etcd.loadMaxPending instances already waited',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(loads.dropped);
    },
  });
}

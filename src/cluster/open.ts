import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { VERSION } from '../version.js';
import { Membership } from './membership.js';
import type { Config } from '../config/schema.js';
import { parseDuration } from '../duration.js';
import type { CheckCluster } from '../health/cluster.js';
import { EtcdStore } from './etcd-store.js';
import { HeartbeatLedger } from './heartbeat-ledger.js';
import type { Catalog } from '../catalog/catalog.js';
import type { StrategyManager } from '../lb/manager.js';
import { LoadSync } from './load-sync.js';

/** The etcd store for a config's `store` section (store.type = etcd). */
export function openEtcdStore(store: Config['store'], logger: Logger): EtcdStore {
  return new EtcdStore({
    endpoints: store.etcd.endpoints,
    prefix: store.etcd.prefix,
    requestTimeoutMs: parseDuration(store.etcd.requestTimeout)!,
    probeIntervalMs: parseDuration(store.etcd.probeInterval)!,
    logger,
  });
}

/** This node as a cluster member: its membership (joined later) and what its health checks share. */
export interface ClusterNode {
  name: string;
  membership: Membership;
  ledger: HeartbeatLedger;
  checks: CheckCluster;
}

/** The node named `nodeName` (empty: the host name); it owns no check until joinCluster. */
export function clusterNode(store: EtcdStore, config: Config['store'], logger: Logger): ClusterNode {
  const name = config.nodeName === '' ? hostname() : config.nodeName;
  const membership = new Membership(
    store.client,
    store.keys,
    name,
    Math.max(Math.ceil(parseDuration(config.etcd.memberTtl)! / 1000), 2),
    logger.child({ component: 'membership' }),
  );
  const ledger = new HeartbeatLedger({
    client: store.client,
    keys: store.keys,
    node: name,
    requestTimeoutMs: parseDuration(config.etcd.requestTimeout)!,
    logger,
  });
  const checks: CheckCluster = {
    self: name,
    members: () => membership.members(),
    onMembersChange: (listener) => membership.onChange(listener),
    fence: () => membership.fence(),
    recordHeartbeat: (checkId, at, ttlMs) => ledger.record(checkId, at, ttlMs),
    lastHeartbeat: (checkId) => ledger.lastHeartbeat(checkId),
    forgetHeartbeat: (checkId, owner) => ledger.forget(checkId, owner),
  };
  return { name, membership, ledger, checks };
}

/** Joins the cluster, advertising this node's faces. */
export async function joinCluster(
  store: EtcdStore,
  node: ClusterNode,
  faces: { http: string; dns: string | null },
): Promise<void> {
  await node.membership.start({ http: faces.http, dns: faces.dns, version: VERSION, startedAt: Date.now() });
  await store.refreshCluster();
}

/**
 * Shares this node's load reports with the other nodes and takes theirs (see load-sync.ts):
 * reports the HTTP route takes go to the queue; loads etcd holds replace this node's.
 */
export async function startLoadSync(
  store: EtcdStore,
  config: Config['store'],
  nodeName: string,
  lb: StrategyManager,
  catalog: Catalog,
  logger: Logger,
): Promise<LoadSync> {
  const loads = new LoadSync({
    client: store.client,
    prefix: config.etcd.prefix,
    nodeName,
    flushIntervalMs: parseDuration(config.etcd.loadFlushInterval)!,
    maxPending: config.etcd.loadMaxPending,
    maxOpsPerTxn: store.maxOpsPerCommit,
    requestTimeoutMs: parseDuration(config.etcd.requestTimeout)!,
    logger: logger.child({ component: 'load-sync' }),
    apply: (id, load) => lb.replaceLoad(id, load, catalog.instance(id)?.name),
    known: (id) => catalog.instance(id) !== undefined,
  });
  lb.onLocalReport = (id, load) => loads.reported(id, load);
  catalog.subscribe((event) => {
    if (event.kind === 'deregistered') loads.forget(event.instance.id);
  });
  await loads.start();
  return loads;
}

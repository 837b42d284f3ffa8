import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { VERSION } from '../version.js';
import { Membership } from './membership.js';
import type { Config } from '../config/schema.js';
import { parseDuration } from '../duration.js';
import { EtcdStore } from './etcd-store.js';

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

/** Joins the cluster as `nodeName` (empty: the host name), advertising this node's faces. */
export async function joinCluster(
  store: EtcdStore,
  config: Config['store'],
  faces: { http: string; dns: string | null },
  logger: Logger,
): Promise<{ name: string; membership: Membership }> {
  const name = config.nodeName === '' ? hostname() : config.nodeName;
  const membership = new Membership(
    store.client,
    store.keys,
    { name, http: faces.http, dns: faces.dns, version: VERSION, startedAt: Date.now() },
    Math.max(Math.ceil(parseDuration(config.etcd.memberTtl)! / 1000), 2),
    logger.child({ component: 'membership' }),
  );
  await membership.start();
  await store.refreshCluster();
  return { name, membership };
}

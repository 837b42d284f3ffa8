import type { Logger } from 'pino';
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

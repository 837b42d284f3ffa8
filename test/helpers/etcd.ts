import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { EtcdCluster } from '../../scripts/etcd-members.js';
import { Catalog, type CatalogOptions } from '../../src/catalog/catalog.js';
import { EtcdStore, type EtcdStoreOptions } from '../../src/cluster/etcd-store.js';
import { KonsulError } from '../../src/errors.js';
import { CHECK_DEFAULTS, tempDir } from './catalog.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * Real etcd members (Debian's etcd 3.4) on free loopback ports in a temp directory, killed with
 * SIGKILL when the test ends. Short heartbeat and election timeouts keep failover tests quick.
 */
export async function startEtcd(t: Teardown, size = 1, retention = '1h'): Promise<EtcdCluster> {
  const baseDir = tempDir(t);
  const cluster = await EtcdCluster.start({
    size,
    baseDir,
    autoCompactionRetention: retention,
    heartbeatMs: 50,
    electionMs: 500,
  });
  t.teardown(() => cluster.stopAll());
  return cluster;
}

/** A key prefix no other test uses, so tests can share one etcd. */
export function uniquePrefix(): string {
  return `/test-${randomBytes(6).toString('hex')}/`;
}

export function openEtcdStore(
  t: Teardown,
  endpoints: readonly string[],
  prefix: string,
  options: Partial<EtcdStoreOptions> = {},
): EtcdStore {
  const store = new EtcdStore({
    endpoints,
    prefix,
    requestTimeoutMs: 2000,
    probeIntervalMs: 250,
    logger: pino({ level: 'silent' }),
    ...options,
  });
  t.teardown(() => store.close());
  return store;
}

/** A catalog (one "node") over etcd; closed when the test ends. */
export async function openEtcdCatalog(
  t: Teardown,
  endpoints: readonly string[],
  prefix: string,
  options: Partial<CatalogOptions> = {},
  storeOptions: Partial<EtcdStoreOptions> = {},
): Promise<Catalog> {
  const store = openEtcdStore(t, endpoints, prefix, storeOptions);
  const catalog = await Catalog.open(store, { checkDefaults: CHECK_DEFAULTS, catchUpTimeoutMs: 2000, ...options });
  t.teardown(() => catalog.close());
  return catalog;
}

/**
 * Resolves once `condition()` holds (or resolves true), checking every 20 ms; throws naming
 * `what` after `timeoutMs`. A poll, not a wait on an event, because what it waits for happens in
 * other processes (etcd electing a leader, a member coming back, a lease expiring, a node's HTTP
 * answer) that send this process no event of their own; the timeout only turns a hang into a
 * failure, it times nothing.
 */
export async function eventually(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Registration n of service `web`: distinct addresses and ports for up to 62,500 instances. */
export const web = (n: number, extra: Record<string, unknown> = {}) => ({
  name: 'web',
  address: `10.0.0.${n % 250}`,
  port: 8080 + Math.floor(n / 250),
  ...extra,
});

/** 'ok', or the KonsulError code a write was refused with (any other error is rethrown). */
export async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (error instanceof KonsulError) return error.code;
    throw error;
  }
}

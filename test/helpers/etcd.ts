import { EtcdCluster } from '../../scripts/etcd-members.js';
import { tempDir } from './catalog.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * Real etcd members (Debian's etcd 3.4) on free loopback ports in a temp directory, killed with
 * SIGKILL when the test ends. Short election timeouts keep failover tests quick.
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
  // Registered after tempDir's, so it runs first: members die before their data dir goes.
  t.teardown(() => cluster.stopAll());
  return cluster;
}

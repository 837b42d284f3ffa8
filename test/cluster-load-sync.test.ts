import t from 'tap';
import pino from 'pino';
import { Catalog } from '../src/catalog/catalog.js';
import { startLoadSync } from '../src/cluster/open.js';
import type { EtcdStore } from '../src/cluster/etcd-store.js';
import { loadConfig } from '../src/config/load.js';
import { createStrategyManager, type StrategyManager } from '../src/lb/manager.js';
import { eventually, openEtcdStore, startEtcd, uniquePrefix, web } from './helpers/etcd.js';
import { CHECK_DEFAULTS } from './helpers/catalog.js';
import { json, startTestKonsul } from './helpers/konsul.js';

/**
 * Load reports shared between nodes over one real etcd. Nodes here are a catalog, a strategy
 * manager and a LoadSync each, with their own etcd client; the timer's flush interval is an
 * hour, so every flush is one the test asks for.
 */
interface Node {
  store: EtcdStore;
  catalog: Catalog;
  lb: StrategyManager;
  loads: Awaited<ReturnType<typeof startLoadSync>>;
}

async function revisionOf(store: EtcdStore): Promise<number> {
  const response = await store.client.kv.range({ key: Buffer.from('/none') });
  return Number(response.header.revision);
}

async function loadKeys(store: EtcdStore, prefix: string): Promise<string[]> {
  return (await store.client.getAll().prefix(`${prefix}load/`).keys()).sort();
}

t.test('load reports shared through etcd', async (t) => {
  const etcd = await startEtcd(t, 1);

  async function node(
    t: { teardown(fn: () => unknown): void },
    prefix: string,
    name: string,
    etcdOverrides: Record<string, unknown> = {},
  ): Promise<Node> {
    const config = loadConfig({
      env: {},
      overrides: {
        store: {
          type: 'etcd',
          nodeName: name,
          etcd: { endpoints: etcd.endpoints, prefix, loadFlushInterval: '1h', ...etcdOverrides },
        },
      },
    });
    const store = openEtcdStore(t, etcd.endpoints, prefix);
    const catalog = await Catalog.open(store, { checkDefaults: CHECK_DEFAULTS, catchUpTimeoutMs: 2000 });
    t.teardown(() => catalog.close());
    const lb = createStrategyManager(config.lb);
    t.teardown(() => lb.close());
    // As src/server.ts does: an instance that leaves takes its load with it.
    catalog.subscribe((event) => {
      if (event.kind === 'deregistered') lb.forgetInstance(event.instance.id);
    });
    const loads = await startLoadSync(store, config.store, name, lb, catalog, pino({ level: 'silent' }));
    t.teardown(() => loads.close());
    return { store, catalog, lb, loads };
  }

  t.test('a thousand reports on A are one etcd write, and B then holds what A holds', async (t) => {
    const prefix = uniquePrefix();
    const a = await node(t, prefix, 'a');
    const b = await node(t, prefix, 'b');
    for (let n = 0; n < 10; n++) await a.catalog.register(web(n, { id: `w${n}` }));
    await eventually('B sees the instances', () => b.catalog.instance('w9') !== undefined);

    for (let round = 0; round < 100; round++)
      for (let n = 0; n < 10; n++) a.lb.reportLoad(`w${n}`, { connections: round + n, latencyMs: 10 + n + round });
    t.equal(a.loads.pendingCount, 10, 'one queued report per instance, the newest');
    const before = await revisionOf(a.store);
    await a.loads.flush();
    t.equal(await revisionOf(a.store), before + 1, 'one flush, one etcd revision');
    t.equal(a.loads.pendingCount, 0);

    await eventually('B takes A’s loads', () => b.lb.loadOf('w9').connections === 99 + 9);
    for (let n = 0; n < 10; n++)
      t.same(b.lb.loadOf(`w${n}`), a.lb.loadOf(`w${n}`), `B holds A’s load for w${n}, latency average included`);
    t.equal(a.lb.loadOf('w0').connections, 99, 'A keeps its own newest report');
  });

  t.test('least-connections orders the same on both nodes, whichever node took each report', async (t) => {
    const prefix = uniquePrefix();
    const a = await node(t, prefix, 'a');
    const b = await node(t, prefix, 'b');
    for (let n = 0; n < 4; n++) await a.catalog.register(web(n, { id: `w${n}` }));
    await eventually('B sees the instances', () => b.catalog.instance('w3') !== undefined);
    a.lb.reportLoad('w0', { connections: 40 });
    a.lb.reportLoad('w1', { connections: 5 });
    b.lb.reportLoad('w2', { connections: 30 });
    b.lb.reportLoad('w3', { connections: 1 });
    await Promise.all([a.loads.flush(), b.loads.flush()]);
    const order = (n: Node) => {
      const result = n.catalog.query({ name: 'web' });
      return n.lb
        .order(
          { key: result.key, service: result.service, instances: result.instances, members: result.members },
          { strategy: 'least-connections' },
        )
        .instances.map((instance) => instance.id);
    };
    await eventually('both nodes hold all four loads', () =>
      [a, b].every((n) => n.lb.loadOf('w0').connections === 40 && n.lb.loadOf('w3').connections === 1),
    );
    t.same(order(a), ['w3', 'w1', 'w2', 'w0']);
    t.same(order(b), order(a), 'B orders as A does');
  });

  t.test('the last report etcd ordered wins on every node', async (t) => {
    const prefix = uniquePrefix();
    const a = await node(t, prefix, 'a');
    const b = await node(t, prefix, 'b');
    await a.catalog.register(web(1, { id: 'w1' }));
    await eventually('B sees the instance', () => b.catalog.instance('w1') !== undefined);
    a.lb.reportLoad('w1', { connections: 7 });
    await a.loads.flush();
    // B reports before its watch may have delivered A's write: that older write must not
    // replace B's newer figure when it arrives after B's own flush.
    b.lb.reportLoad('w1', { connections: 3 });
    await b.loads.flush();
    await eventually('A takes B’s later report', () => a.lb.loadOf('w1').connections === 3);
    t.equal(b.lb.loadOf('w1').connections, 3, 'B keeps its own later report');
  });

  t.test('the queue holds at most loadMaxPending instances; more reports are applied here only', async (t) => {
    const prefix = uniquePrefix();
    const a = await node(t, prefix, 'a', { loadMaxPending: 3 });
    for (let n = 0; n < 5; n++) await a.catalog.register(web(n, { id: `w${n}` }));
    for (let n = 0; n < 5; n++) a.lb.reportLoad(`w${n}`, { connections: n + 1 });
    a.lb.reportLoad('w0', { connections: 9 });
    t.equal(a.loads.pendingCount, 3);
    t.equal(a.loads.dropped, 2, 'w3 and w4 were not queued');
    t.equal(a.lb.loadOf('w4').connections, 5, 'a report not shared still counts on the node that took it');
    await a.loads.flush();
    t.same(await loadKeys(a.store, prefix), [`${prefix}load/w0`, `${prefix}load/w1`, `${prefix}load/w2`]);
    const stored = await a.store.client.get(`${prefix}load/w0`).json();
    t.match(stored, { c: 9, n: 'a' }, 'a newer report for a queued instance replaces it');
  });

  t.test('a failed flush keeps its reports for the next one, and stops at its first refusal', async (t) => {
    const prefix = uniquePrefix();
    const a = await node(t, prefix, 'a');
    // 130 instances are two transactions of at most 128 puts.
    await Promise.all(Array.from({ length: 130 }, (_, n) => a.catalog.register(web(n, { id: `w${n}` }))));
    for (let n = 0; n < 130; n++) a.lb.reportLoad(`w${n}`, { connections: 4 });
    etcd.kill(0, 'SIGSTOP');
    t.teardown(() => etcd.kill(0, 'SIGCONT'));
    await a.loads.flush();
    t.equal(a.loads.failedFlushes, 1, 'one refused transaction, not one timeout per transaction');
    t.equal(a.loads.pendingCount, 130, 'every report waits for the next flush');
    etcd.kill(0, 'SIGCONT');
    // As the timer would: flush again until etcd (and etcd3's circuit breaker) takes writes again.
    const deadline = Date.now() + 20_000;
    while (a.loads.pendingCount > 0 && Date.now() < deadline) {
      await a.loads.flush();
      if (a.loads.pendingCount > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    t.equal((await loadKeys(a.store, prefix)).length, 130);
    t.equal(a.loads.pendingCount, 0);
  });

  t.test('an instance that leaves takes its load key with it', async (t) => {
    const prefix = uniquePrefix();
    const a = await node(t, prefix, 'a');
    const b = await node(t, prefix, 'b');
    await a.catalog.register(web(1, { id: 'w1' }));
    a.lb.reportLoad('w1', { connections: 2 });
    await a.loads.flush();
    await eventually('B takes the load', () => b.lb.loadOf('w1').connections === 2);
    await b.catalog.deregister('w1');
    await eventually('A sees the instance leave', () => a.catalog.instance('w1') === undefined);
    await a.loads.flush();
    t.same(await loadKeys(a.store, prefix), [], 'the node that wrote the key last deleted it');
    t.equal(b.lb.loadOf('w1').connections, 0);
  });
});

t.test('two Konsul servers: a load reported over HTTP on A is seen by B within a second', async (t) => {
  const etcd = await startEtcd(t, 1);
  const prefix = uniquePrefix();
  const store = { type: 'etcd' as const, nodeName: 'a', etcd: { endpoints: etcd.endpoints, prefix } };
  const a = await startTestKonsul(t, { store });
  const b = await startTestKonsul(t, { store: { ...store, nodeName: 'b' } });
  for (let n = 0; n < 3; n++) {
    const registered = await a.app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: web(n, { id: `w${n}` }),
    });
    t.equal(registered.statusCode, 200);
  }
  await eventually('B sees the instances', () => b.catalog.instance('w2') !== undefined);
  for (const [id, connections] of [
    ['w0', 12],
    ['w1', 2],
    ['w2', 7],
  ] as const) {
    const reported = await a.app.inject({
      method: 'PUT',
      url: `/catalog/instances/${id}/load`,
      payload: { connections },
    });
    t.equal(reported.statusCode, 200);
  }
  // The default flush interval is 250 ms; the timeout only turns a hang into a failure.
  await eventually(
    'B takes A’s reports',
    () => [12, 2, 7].every((connections, n) => b.lb.loadOf(`w${n}`).connections === connections),
    5000,
  );
  const onB = await b.app.inject({ url: '/catalog/services/web?lb=least-connections' });
  t.same(
    json<{ id: string }[]>(onB).map((instance) => instance.id),
    ['w1', 'w2', 'w0'],
    'least-connections on B sees the connections reported to A',
  );
  const metrics = await a.app.inject({ url: '/metrics' });
  t.match(metrics.body, /^konsul_cluster_load_flushes_total\{result="ok"\} [1-9]\d*$/m);
  t.match(metrics.body, /^konsul_cluster_load_pending 0$/m);
  t.match(metrics.body, /^konsul_cluster_load_reports_dropped_total 0$/m);
});

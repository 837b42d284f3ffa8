import t from 'tap';
import type { EtcdStore } from '../../src/cluster/etcd-store.js';
import { Catalog } from '../../src/catalog/catalog.js';
import { CHECK_DEFAULTS } from '../helpers/catalog.js';
import { eventually, openEtcdCatalog, openEtcdStore, outcome, startEtcd, uniquePrefix, web } from '../helpers/etcd.js';
import { startTestKonsul } from '../helpers/konsul.js';

/**
 * Cluster mode when etcd fails under it: members SIGKILLed or SIGSTOPped, history compacted
 * while a node is cut off. Each test runs its own three-member etcd.
 */
t.test('a node cut off while etcd compacts its history lists again; no watcher misses the change', async (t) => {
  const etcd = await startEtcd(t, 3);
  const prefix = uniquePrefix();
  // B only talks to one follower, which is about to be frozen; A talks to the other two.
  const cut = (await etcd.leader()) === 2 ? 1 : 2;
  const a = await openEtcdCatalog(
    t,
    etcd.endpoints.filter((_, i) => i !== cut),
    prefix,
  );
  const bStore = openEtcdStore(t, [etcd.endpoints[cut]], prefix, { requestTimeoutMs: 1000 });
  const b = await Catalog.open(bStore, { checkDefaults: CHECK_DEFAULTS, catchUpTimeoutMs: 2000 });
  t.teardown(() => b.close());
  await a.register(web(1, { id: 'keep' }));
  await a.register(web(2, { id: 'gone' }));
  await eventually('the cluster settles', () => b.instance('gone') !== undefined);
  const relists = bStore.stats.relists;
  const breaks = bStore.stats.watchBreaks;
  const index = b.serviceIndex('web');
  let woken = false;
  const watching = b.waitForChange('web', index, 60_000).then(() => (woken = true));

  etcd.kill(cut, 'SIGSTOP');
  t.teardown(() => etcd.kill(cut, 'SIGCONT'));
  await a.deregister('gone');
  const added = await a.register(web(3, { id: 'new' }));
  for (let i = 0; i < 20; i++)
    await a.register({ id: `filler-${i}`, name: 'filler', address: '10.0.1.1', port: i + 1 });
  await etcd.compact(a.index);
  // gRPC keepalive notices the frozen member; B drops its watch and keeps trying to list.
  await eventually('the cluster settles', () => bStore.stats.watchBreaks > breaks && !b.contact().knownLeader, 20_000);
  t.notOk(woken, 'B cannot know yet');
  t.ok(b.instance('gone'), 'B still answers reads from memory');
  etcd.kill(cut, 'SIGCONT');

  await watching;
  await eventually(
    'the cluster settles',
    () => b.instance('new') !== undefined && b.instance('gone') === undefined,
    20_000,
  );
  t.ok(bStore.stats.relists > relists, 'B listed again');
  t.ok(b.serviceIndex('web') >= added.index);
  t.same(
    b.query({ name: 'web' }).instances.map((instance) => instance.id),
    ['keep', 'new'],
  );
  t.equal(b.query({ name: 'filler' }).instances.length, 20);
});

t.test('two of three etcd members down: reads are served, writes refused in time, all resumes', async (t) => {
  const etcd = await startEtcd(t, 3);
  const prefix = uniquePrefix();
  const requestTimeoutMs = 1000;
  const a = await openEtcdCatalog(
    t,
    etcd.endpoints,
    prefix,
    { catchUpTimeoutMs: requestTimeoutMs },
    { requestTimeoutMs },
  );
  const store = (a as unknown as { store: EtcdStore }).store;
  await a.register(web(1, { id: 'before' }));
  t.ok(a.contact().knownLeader);

  etcd.kill(1, 'SIGKILL');
  etcd.kill(2, 'SIGKILL');
  const started = Date.now();
  const code = await outcome(a.register(web(2, { id: 'during' })));
  const took = Date.now() - started;
  t.equal(code, 'storage_unavailable', 'the write is refused with 503 storage_unavailable');
  // The documented bound: the request timeout, plus the time for the refusal to come back.
  t.ok(took < requestTimeoutMs * 2 + 1000, `refused after ${took} ms`);
  t.equal(a.query({ name: 'web' }).instances.length, 1, 'reads are still answered from memory');
  t.notOk(a.instance('during'), 'a refused write is not shown as if it had been applied');
  await eventually('the cluster settles', () => !a.contact().knownLeader, 10_000);
  t.ok(store.contact().lastContactMs > 0);

  await Promise.all([etcd.restart(1), etcd.restart(2)]);
  let written: { index: number } | undefined;
  await eventually('the cluster settles', () => a.contact().knownLeader, 20_000);
  // With its quorum back, etcd takes writes; the etcd client's circuit breaker on each member
  // it failed to reach still fails calls at once until its half-open wait (5 s) has passed, so
  // writes are retried until then rather than a fixed number of times.
  await eventually(
    'a write lands',
    async () => (written = await a.register(web(3, { id: 'after' })).catch(() => undefined)) !== undefined,
    20_000,
  );
  t.ok(written !== undefined, 'writes resume on their own');
  // 'during' may appear now: the leader that logged it commits it once quorum is back, which
  // is why the refusal says the outcome is unknown (as a timed-out Consul write is).
  t.ok(a.instance('after'));
});

t.test('the etcd leader killed during a registration storm: no acknowledged write lost, no index twice', async (t) => {
  const etcd = await startEtcd(t, 3);
  const prefix = uniquePrefix();
  const a = await openEtcdCatalog(t, etcd.endpoints, prefix);
  const acknowledged = new Map<string, number>();
  let refused = 0;
  let stop = false;
  const storm = async (worker: number) => {
    for (let n = 0; !stop; n++) {
      const id = `w${worker}-${n}`;
      try {
        const { index } = await a.register(web(n, { id }));
        acknowledged.set(id, index);
      } catch {
        refused++;
      }
    }
  };
  const workers = Array.from({ length: 8 }, (_, worker) => storm(worker));
  await eventually('the cluster settles', () => acknowledged.size >= 50, 20_000);
  const leader = await etcd.leader();
  t.ok(leader >= 0, 'a leader is known');
  etcd.kill(leader, 'SIGKILL');
  const beforeKill = acknowledged.size;
  await eventually('the cluster settles', () => acknowledged.size >= beforeKill + 50, 30_000);
  stop = true;
  await Promise.all(workers);
  t.comment(`${acknowledged.size} acknowledged, ${refused} refused`);

  // A fresh node lists what etcd holds: every acknowledged write is there.
  const fresh = await openEtcdCatalog(
    t,
    etcd.endpoints.filter((_, i) => i !== leader),
    prefix,
  );
  const missing = [...acknowledged.keys()].filter((id) => fresh.instance(id) === undefined);
  t.same(missing, [], 'no acknowledged registration is missing');
  const byIndex = new Map<number, number>();
  for (const index of acknowledged.values()) byIndex.set(index, (byIndex.get(index) ?? 0) + 1);
  // A batch whose commit answer the dying leader never sent is retried by the client: etcd refuses
  // the retry (the keys exist), the node recomputes and writes the same instances again. The
  // acknowledgement then carries that second commit's revision: the instance's modify index.
  for (const [id, index] of acknowledged) {
    const instance = fresh.instance(id)!;
    t.ok(index === instance.createIndex || index === instance.modifyIndex, `${id} kept its index`);
  }
  // Writes that shared a transaction share its revision; different transactions never do.
  t.ok([...acknowledged.values()].every((index) => index > 0));
});

t.test('with etcd out of reach, every HTTP answer says so, a blocking one as of when it is answered', async (t) => {
  const etcd = await startEtcd(t, 3);
  const node = await startTestKonsul(t, {
    store: {
      type: 'etcd',
      nodeName: 'k1',
      etcd: { endpoints: etcd.endpoints, prefix: uniquePrefix(), requestTimeout: '1s', probeInterval: '250ms' },
    },
    health: { enabled: false },
  });
  const before = await node.app.inject({ url: '/catalog/services/web' });
  t.equal(before.headers['x-konsul-known-leader'], 'true');
  // Held across the outage: its answer must tell the contact at the time it is answered.
  const blocking = node.app.inject({
    url: `/catalog/services/web?index=${Number(before.headers['x-konsul-index'])}&wait=5s`,
  });

  etcd.kill(1, 'SIGKILL');
  etcd.kill(2, 'SIGKILL');
  await eventually('the node stops counting etcd as reachable', () => !node.catalog.contact().knownLeader, 15_000);
  const native = await node.app.inject({ url: '/catalog/services/web' });
  t.equal(native.statusCode, 200, 'reads are still answered from memory');
  t.equal(native.headers['x-konsul-known-leader'], 'false');
  const lastContactMs = Number(native.headers['x-konsul-last-contact']);
  t.ok(lastContactMs > 0, `last contact ${lastContactMs} ms ago`);
  const consul = await node.app.inject({ url: '/v1/health/service/web' });
  t.equal(consul.headers['x-consul-knownleader'], 'false');
  t.notOk('x-konsul-known-leader' in consul.headers, '/v1 carries Consul’s headers, not the native ones');
  const held = await blocking;
  t.equal(held.statusCode, 200);
  t.equal(held.headers['x-konsul-known-leader'], 'false', 'the blocking answer reports the contact of its answer');
});

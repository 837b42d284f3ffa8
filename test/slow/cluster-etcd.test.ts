import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { CatalogEvent } from '../../src/catalog/catalog.js';
import { eventually, openEtcdCatalog, outcome, startEtcd, uniquePrefix, web } from '../helpers/etcd.js';
import { json, startTestKonsul } from '../helpers/konsul.js';

/**
 * Several Konsul nodes over one real etcd: each node here is a catalog (or a whole server) with
 * its own etcd client, as separate processes would have. Failures are real: etcd members are
 * SIGKILLed or SIGSTOPped.
 */
const run = promisify(execFile);

t.test('one etcd, several nodes', async (t) => {
  const etcd = await startEtcd(t, 1);

  t.test('a write acknowledged on A is read on B and wakes a blocking query on B', async (t) => {
    const prefix = uniquePrefix();
    const a = await openEtcdCatalog(t, etcd.endpoints, prefix);
    const b = await openEtcdCatalog(t, etcd.endpoints, prefix);
    const index = b.serviceIndex('web');
    const woken = b.waitForChange('web', index, 30_000);
    const written = await a.register(web(1, { id: 'a1' }));
    await woken;
    t.ok(b.serviceIndex('web') >= written.index, 'B reports an index at least the write index');
    t.equal(b.instance('a1')?.modifyIndex, written.index, 'B holds the instance at the revision A acknowledged');
    t.same(b.instance('a1'), a.instance('a1'));
  });

  t.test('a service config and a maintenance set on A reach B and wake its blocking queries', async (t) => {
    const prefix = uniquePrefix();
    const a = await openEtcdCatalog(t, etcd.endpoints, prefix);
    const b = await openEtcdCatalog(t, etcd.endpoints, prefix);
    await a.register(web(1, { id: 'a1' }));
    await eventually('B sees the instance', () => b.instance('a1') !== undefined);
    const index = b.serviceIndex('web');
    const woken = b.waitForChange('web', index, 30_000);
    const configured = await a.configureService('web', { lb: 'maglev', limit: 1 });
    await woken;
    t.same(b.serviceConfig('web'), { name: 'web', config: { lb: 'maglev', limit: 1 }, modifyIndex: configured.index });
    t.ok(b.serviceIndex('web') >= configured.index);
    const held = await a.setMaintenance('a1', 'deploy');
    await eventually('B sees the maintenance', () => b.instance('a1')?.maintenance !== undefined);
    t.same(b.instance('a1')!.maintenance, held.maintenance);
    await a.configureService('web', null);
    await eventually('B sees the config removed', () => b.serviceConfig('web') === undefined);
    // A node that starts later lists what is there.
    await a.configureService('api', { passing: true });
    const c = await openEtcdCatalog(t, etcd.endpoints, prefix);
    t.same(c.serviceConfig('api')?.config, { passing: true });
    t.equal(c.serviceConfig('web'), undefined);
  });

  t.test('a blocking query carrying an index B has not seen yet waits instead of answering lower', async (t) => {
    const prefix = uniquePrefix();
    const a = await openEtcdCatalog(t, etcd.endpoints, prefix);
    const b = await openEtcdCatalog(t, etcd.endpoints, prefix);
    await a.register(web(1, { id: 'x' }));
    const written = await a.register(web(2, { id: 'y' }));
    // The client saw A's index; B may or may not have caught up. Either way it must not return
    // before its own index for web is above what the client holds.
    const waiting = b.waitForChange('web', written.index, 30_000);
    let answered = false;
    void waiting.then(() => (answered = true));
    await eventually('the cluster settles', () => b.serviceIndex('web') >= written.index, 5000);
    await new Promise((resolve) => setImmediate(resolve));
    t.notOk(answered, 'B does not answer while its index is not above the client’s');
    const next = await a.register(web(3, { id: 'z' }));
    await waiting;
    t.ok(b.serviceIndex('web') >= next.index);
  });

  t.test('the same id registered on two nodes at once: both land, one after the other', async (t) => {
    const prefix = uniquePrefix();
    const a = await openEtcdCatalog(t, etcd.endpoints, prefix);
    const b = await openEtcdCatalog(t, etcd.endpoints, prefix);
    for (let round = 0; round < 10; round++) {
      const id = `same-${round}`;
      const [onA, onB] = await Promise.all([
        a.register(web(1, { id, meta: { from: 'a' } })),
        b.register(web(2, { id, meta: { from: 'b' } })),
      ]);
      t.not(onA.index, onB.index, 'no index is given twice');
      const last = onA.index > onB.index ? 'a' : 'b';
      await eventually(
        'the cluster settles',
        () => a.index >= Math.max(onA.index, onB.index) && b.index >= Math.max(onA.index, onB.index),
      );
      t.equal(a.instance(id)!.meta.from, last, 'the later commit is what A holds');
      t.equal(b.instance(id)!.meta.from, last, 'the later commit is what B holds');
      t.equal(a.instance(id)!.createIndex, Math.min(onA.index, onB.index), 'the second write was an update');
    }
  });

  t.test('the same check id claimed by two instances on two nodes at once: exactly one wins', async (t) => {
    const prefix = uniquePrefix();
    const a = await openEtcdCatalog(t, etcd.endpoints, prefix);
    const b = await openEtcdCatalog(t, etcd.endpoints, prefix);
    for (let round = 0; round < 10; round++) {
      const checkId = `check-${round}`;
      const check = [{ id: checkId, type: 'ttl', ttl: '30s' }];
      const results = await Promise.all([
        outcome(a.register(web(1, { id: `a-${round}`, checks: check }))),
        outcome(b.register(web(2, { id: `b-${round}`, checks: check }))),
      ]);
      t.same([...results].sort(), ['check_id_taken', 'ok'], `round ${round}: ${results.join(', ')}`);
      const winner = results[0] === 'ok' ? `a-${round}` : `b-${round}`;
      const loser = results[0] === 'ok' ? `b-${round}` : `a-${round}`;
      await eventually(
        'the cluster settles',
        () => a.instance(winner) !== undefined && b.instance(winner) !== undefined,
      );
      t.equal(a.findCheck(checkId)!.instance.id, winner);
      t.equal(b.findCheck(checkId)!.instance.id, winner);
      t.equal(a.instance(loser), undefined);
      t.equal(b.instance(loser), undefined);
    }
  });

  t.test('an instance moved on A while B updates its check: neither write is lost', async (t) => {
    const prefix = uniquePrefix();
    const a = await openEtcdCatalog(t, etcd.endpoints, prefix);
    const b = await openEtcdCatalog(t, etcd.endpoints, prefix);
    await a.register(web(1, { id: 'm', checks: [{ id: 'mc', type: 'ttl', ttl: '30s' }] }));
    await eventually('the cluster settles', () => b.findCheck('mc') !== undefined);
    const [moved, checked] = await Promise.all([
      a.register({
        id: 'm',
        name: 'api',
        address: '10.0.0.1',
        port: 80,
        checks: [{ id: 'mc', type: 'ttl', ttl: '30s' }],
      }),
      b.updateCheck('mc', 'passing', 'ok'),
    ]);
    const last = Math.max(moved.index, checked!);
    await eventually('the cluster settles', () => a.index >= last && b.index >= last);
    for (const node of [a, b]) {
      t.equal(node.instance('m')!.name, 'api');
      t.equal(node.findCheck('mc')!.check.status, 'passing', 'the status survives the re-registration');
      t.equal(node.query({ name: 'web' }).instances.length, 0);
    }
  });

  t.test('63 checks replaced by 63 others fit one etcd transaction; 64 do not (the config bound)', async (t) => {
    const prefix = uniquePrefix();
    const a = await openEtcdCatalog(t, etcd.endpoints, prefix);
    const checks = (from: string, count: number) =>
      Array.from({ length: count }, (_, n) => ({ id: `${from}-${n}`, type: 'ttl' as const, ttl: '30s' }));
    await a.register(web(1, { id: 'many', checks: checks('first', 63) }));
    const replaced = await a.register(web(1, { id: 'many', checks: checks('second', 63) }));
    t.equal(replaced.instance.checks.length, 63);
    t.equal(a.findCheck('first-0'), undefined, 'the old check ids are released');
    await a.register(web(2, { id: 'more', checks: checks('third', 64) }));
    t.equal(
      await outcome(a.register(web(2, { id: 'more', checks: checks('fourth', 64) }))),
      'storage_unavailable',
      'etcd refuses 129 operations in one transaction',
    );
  });

  t.test('an emptied service is forgotten by each node after the tombstone TTL, from its own view', async (t) => {
    const prefix = uniquePrefix();
    const ttl = 60_000;
    let now = 1_000_000;
    const a = await openEtcdCatalog(t, etcd.endpoints, prefix, { now: () => now, tombstoneTtlMs: ttl });
    const b = await openEtcdCatalog(t, etcd.endpoints, prefix, { now: () => now, tombstoneTtlMs: ttl });
    const events: CatalogEvent[] = [];
    a.subscribe((event) => events.push(event));
    await a.register({ id: 'g1', name: 'gone', address: '10.0.0.1', port: 80 });
    await a.register({ id: 'k1', name: 'kept', address: '10.0.0.2', port: 80 });
    const removed = await a.deregister('g1');
    await eventually('B sees the removal', () => b.index >= removed.index);
    for (const node of [a, b]) {
      t.equal(node.serviceIndex('gone'), removed.index, 'the removal is visible as the service index');
      t.equal(node.tombstoneCount, 1);
    }

    now += ttl - 1;
    t.equal(await a.reapTombstones(), 0, 'nothing is forgotten before the TTL');
    now += 1;
    t.equal(await a.reapTombstones(), 1);
    t.equal(a.service('gone'), undefined, 'A forgets the service');
    t.equal(a.tombstoneCount, 0);
    t.ok(a.serviceIndex('gone') >= removed.index, 'reads of it never report an index below the removal');
    t.match(events.at(-1), { kind: 'services-forgotten', names: ['gone'], index: a.index });
    t.not(a.service('kept'), undefined, 'a service with instances is never touched');
    t.not(b.service('gone'), undefined, 'B keeps its own tombstone until its own sweep');
    t.equal(await b.reapTombstones(), 1);
    t.equal(b.service('gone'), undefined);

    const late = await openEtcdCatalog(t, etcd.endpoints, prefix);
    t.equal(late.service('gone'), undefined, 'a node started now never sees the emptied service at all');
    const back = await b.register({ id: 'g2', name: 'gone', address: '10.0.0.3', port: 80 });
    await eventually('A sees the service come back', () => a.service('gone')?.instances.length === 1);
    t.equal(a.serviceIndex('gone'), back.index, 'a forgotten service that comes back takes its new index');
    t.ok(back.index > removed.index);
  });
});

t.test('two Konsul servers over one etcd: HTTP write on A, HTTP and DNS answers on B', async (t) => {
  const etcd = await startEtcd(t, 1);
  const prefix = uniquePrefix();
  const store = { type: 'etcd' as const, nodeName: 'a', etcd: { endpoints: etcd.endpoints, prefix } };
  const a = await startTestKonsul(t, { store });
  const b = await startTestKonsul(t, { store: { ...store, nodeName: 'b' }, dns: { enabled: true, port: 0 } });

  const before = await b.app.inject({ url: '/v1/health/service/web' });
  const index = Number(before.headers['x-consul-index']);
  t.equal(before.headers['x-consul-knownleader'], 'true');
  const blocking = b.app.inject({ url: `/v1/health/service/web?index=${index}&wait=30s` });

  const registered = await a.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '10.0.0.7', port: 8080 },
  });
  t.equal(registered.statusCode, 200);
  const writeIndex = json<{ index: number }>(registered).index;

  const woke = await blocking;
  t.ok(Number(woke.headers['x-consul-index']) >= writeIndex, 'the blocking query on B answers with the write');
  t.equal(json<unknown[]>(woke).length, 1);

  const native = await b.app.inject({ url: '/catalog/services/web' });
  t.equal(native.statusCode, 200);
  t.equal(native.headers['x-konsul-known-leader'], 'true');
  t.match(native.body, /10\.0\.0\.7/);

  const { stdout } = await run('dig', [
    '@127.0.0.1',
    '-p',
    String(b.dns!.port),
    '+time=2',
    '+tries=1',
    '+short',
    'web.service.konsul',
    'A',
  ]);
  t.equal(stdout.trim(), '10.0.0.7', 'B answers over DNS');

  const etcdHost = etcd.endpoints[0].replace('http://', '');
  t.equal(json(await b.app.inject({ url: '/v1/status/leader' })), etcdHost, 'the leader is etcd’s');
  t.same(json(await b.app.inject({ url: '/v1/status/peers' })), [etcdHost], 'the peers are etcd’s members');
  await eventually('the cluster settles', () => (b.catalog.cluster()?.members.length ?? 0) === 2, 10_000);
  const self = json<{ Stats: { konsul: Record<string, string> } }>(await b.app.inject({ url: '/v1/agent/self' }));
  t.equal(self.Stats.konsul.members, 'a,b', 'agent/self names the live Konsul nodes');
  t.equal(self.Stats.konsul.known_leader, 'true');
  const metrics = await b.app.inject({ url: '/metrics' });
  t.match(metrics.body, /^konsul_cluster_members 2$/m);
  t.match(metrics.body, /^konsul_cluster_known_leader 1$/m);
  t.match(metrics.body, /^konsul_etcd_requests_total\{kind="range",result="ok"\} \d+$/m);
  t.notMatch(metrics.body, /^konsul_storage_/m, 'the SQLite storage gauges are not exported over etcd');
  t.ok(
    b.logs.some((line) => /cluster node b of [12]/.test(line)),
    'the start-up line names the node',
  );

  await a.close();
  await eventually('the cluster settles', () => b.catalog.cluster()?.members.length === 1, 10_000);
  t.same(
    b.catalog.cluster()!.members.map((member) => member.name),
    ['b'],
    'a node that stops leaves the member list at once',
  );
});

t.test('three Konsul servers: a write on A wakes a blocking query on B and is answered over DNS by C', async (t) => {
  const etcd = await startEtcd(t, 1);
  const prefix = uniquePrefix();
  const store = (nodeName: string) => ({
    type: 'etcd' as const,
    nodeName,
    etcd: { endpoints: etcd.endpoints, prefix },
  });
  const a = await startTestKonsul(t, { store: store('a') });
  const b = await startTestKonsul(t, { store: store('b') });
  const c = await startTestKonsul(t, { store: store('c'), dns: { enabled: true, port: 0 } });

  const before = await b.app.inject({ url: '/catalog/services/api' });
  const blocking = b.app.inject({
    url: `/catalog/services/api?index=${Number(before.headers['x-konsul-index'])}&wait=30s`,
  });
  const registered = await a.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { id: 'api-1', name: 'api', address: '10.0.3.4', port: 9000 },
  });
  t.equal(registered.statusCode, 200);
  const writeIndex = json<{ index: number }>(registered).index;
  const woke = await blocking;
  t.ok(Number(woke.headers['x-konsul-index']) >= writeIndex, 'B answers the blocking query with the write');
  t.same(
    json<{ id: string }[]>(woke).map((instance) => instance.id),
    ['api-1'],
  );

  // C answers from its own view: it may not have the write yet, so ask it to catch up first.
  const caughtUp = await c.app.inject({ url: `/catalog/services/api?index=${writeIndex - 1}&wait=30s` });
  t.equal(caughtUp.statusCode, 200);
  const { stdout } = await run('dig', [
    '@127.0.0.1',
    '-p',
    String(c.dns!.port),
    '+time=2',
    '+tries=1',
    '+short',
    'api.service.konsul',
    'A',
  ]);
  t.equal(stdout.trim(), '10.0.3.4', 'C answers over DNS with the instance registered on A');
  await eventually('all three nodes count each other', () => c.catalog.cluster()?.members.length === 3, 10_000);
  t.same(
    c.catalog.cluster()!.members.map((member) => member.name),
    ['a', 'b', 'c'],
  );
});

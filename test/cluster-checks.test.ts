import t from 'tap';
import { createServer } from 'node:http';
import pino from 'pino';
import { Catalog } from '../src/catalog/catalog.js';
import { Membership } from '../src/cluster/membership.js';
import type { Config, DeepPartial } from '../src/config/load.js';
import { CHECK_DEFAULTS } from './helpers/catalog.js';
import { idOwnedBy, ownerAmong } from './helpers/check-owners.js';
import { eventually, openEtcdCatalog, openEtcdStore, outcome, startEtcd, uniquePrefix, web } from './helpers/etcd.js';
import { startHttpTarget } from './helpers/health-targets.js';
import { startTestKonsul, type TestKonsul } from './helpers/konsul.js';

/**
 * Health checks shared out over a cluster (docs/cluster.md, "Health checks in a cluster"):
 * Konsul servers in this process over one real etcd, each with its own etcd client and its own
 * membership lease, probing real HTTP and TCP targets.
 */

type Etcd = Awaited<ReturnType<typeof startEtcd>>;

async function startCluster(
  t: Parameters<typeof startTestKonsul>[0],
  etcd: Etcd,
  names: readonly string[],
  health: DeepPartial<Config['health']> = {},
): Promise<TestKonsul[]> {
  const prefix = uniquePrefix();
  const nodes: TestKonsul[] = [];
  for (const name of names) {
    nodes.push(
      await startTestKonsul(t, {
        store: {
          type: 'etcd',
          nodeName: name,
          etcd: { endpoints: etcd.endpoints, prefix, memberTtl: '2s', probeInterval: '250ms' },
        },
        health,
      }),
    );
  }
  await eventually('every node counts every member', () =>
    nodes.every((node) => node.health.clusterMembers?.length === names.length),
  );
  return nodes;
}

const statusOn = (node: TestKonsul, checkId: string) => node.catalog.findCheck(checkId)?.check.status;

t.test('health checks in a cluster', async (t) => {
  const etcd = await startEtcd(t, 1);

  t.test('each http check is run by exactly one of three nodes: the one the hashing picks', async (t) => {
    const target = await startHttpTarget(t);
    const nodes = await startCluster(t, etcd, ['a', 'b', 'c']);
    const [a] = nodes;
    const count = 9;
    for (let i = 0; i < count; i++) {
      await a.catalog.register(
        web(i, {
          id: `web-${i}`,
          checks: [{ id: `http-${i}`, type: 'http', http: `${target.url}?check=${i}`, interval: '1s' }],
        }),
      );
    }
    const probesOf = (i: number) => target.requests.filter((request) => request.url.endsWith(`?check=${i}`));
    await target.until('every check probed three times', () =>
      Array.from({ length: count }, (_, i) => probesOf(i).length).every((probes) => probes >= 3),
    );
    const owners = new Set<string>();
    for (let i = 0; i < count; i++) {
      const owner = ownerAmong(['a', 'b', 'c'], `http-${i}`);
      owners.add(owner);
      t.same(
        [...new Set(probesOf(i).map((request) => request.headers['x-konsul-node']))],
        [owner],
        `http-${i}: every probe came from ${owner}`,
      );
      t.same(
        nodes.map((node) => node.health.owns(`http-${i}`)),
        ['a', 'b', 'c'].map((name) => name === owner),
        `http-${i}: only ${owner} holds it`,
      );
    }
    t.ok(owners.size > 1, 'the checks are spread over the nodes');
    await eventually('every node shows every check passing', () =>
      nodes.every((node) =>
        Array.from({ length: count }, (_, i) => statusOn(node, `http-${i}`)).every((s) => s === 'passing'),
      ),
    );
  });

  t.test('a node that stops hands its checks to the others, which write their results', async (t) => {
    const target = await startHttpTarget(t);
    const [a, b] = await startCluster(t, etcd, ['a', 'b']);
    const checkId = idOwnedBy('a', ['a', 'b'], 'moving');
    await b.catalog.register(
      web(1, { id: 'w1', checks: [{ id: checkId, type: 'http', http: target.url, interval: '1s' }] }),
    );
    await target.until('a probes its check', () => target.requests.some((r) => r.headers['x-konsul-node'] === 'a'));
    t.notOk(b.health.owns(checkId), 'b leaves it alone while a is up');

    await a.close();
    const afterStop = target.requests.length;
    target.behaviour = { kind: 'status', status: 503, body: 'down' };
    await target.until('b probes it', () =>
      target.requests.slice(afterStop).some((r) => r.headers['x-konsul-node'] === 'b'),
    );
    t.ok(b.health.owns(checkId), 'b owns it now');
    await eventually('b records what it found', () => statusOn(b, checkId) === 'critical');
    t.notOk(
      target.requests.slice(afterStop).some((r) => r.headers['x-konsul-node'] === 'a'),
      'a probes nothing once stopped',
    );
  });

  t.test('a tcp check moves too, and deregisterCriticalAfter is carried out by one node', async (t) => {
    const nodes = await startCluster(t, etcd, ['a', 'b', 'c']);
    // A port nothing listens on: the check is critical from its first run.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const ids = ['r1', 'r2', 'r3', 'r4'];
    for (const [n, id] of ids.entries()) {
      await nodes[n % 3].catalog.register(
        web(n, {
          id,
          checks: [
            { id: `${id}-tcp`, type: 'tcp', tcp: `127.0.0.1:${port}`, interval: '1s', deregisterCriticalAfter: '1s' },
          ],
        }),
      );
    }
    await eventually(
      'every instance is deregistered on every node',
      () => nodes.every((node) => ids.every((id) => node.catalog.instance(id) === undefined)),
      15_000,
    );
    for (const id of ids) {
      const owner = ownerAmong(['a', 'b', 'c'], `${id}-tcp`);
      const reapers = nodes.filter((node) =>
        node.logs.some((line) => line.includes(`"instanceId":"${id}"`) && line.includes('deregistered instance')),
      );
      t.same(
        reapers.map((node) => node.config.store.nodeName),
        [owner],
        `${id}: deregistered by one node, its owner`,
      );
    }
  });

  t.test('a heartbeat to any node keeps a TTL check passing; when they stop its owner fails it in time', async (t) => {
    const [a, b] = await startCluster(t, etcd, ['a', 'b']);
    const checkId = idOwnedBy('b', ['a', 'b'], 'beat');
    const ttlMs = 1500;
    const registered = await a.catalog.register(
      web(1, { id: 'beating', checks: [{ id: checkId, type: 'ttl', ttl: `${ttlMs}ms`, status: 'passing' }] }),
    );
    await eventually('b holds the check', () => b.health.owns(checkId));
    const critical: string[] = [];
    for (const node of [a, b]) {
      node.catalog.subscribe((event) => {
        if (
          event.kind === 'registered' &&
          event.instance.checks.some((c) => c.id === checkId && c.status !== 'passing')
        )
          critical.push(event.instance.checks[0].status);
        if (event.kind === 'check-updated' && event.check.id === checkId && event.check.status !== 'passing')
          critical.push(event.check.status);
      });
    }
    const routes = [
      { method: 'PUT' as const, url: `/v1/agent/check/pass/${checkId}` },
      { method: 'PUT' as const, url: `/health/check/${checkId}/pass` },
      { method: 'PUT' as const, url: '/heartbeat/beating' },
    ];
    // Three TTLs of heartbeats, all to a (which does not own the check), through every route.
    const beats = 30;
    for (let beat = 0; beat < beats; beat++) {
      const response = await a.app.inject(routes[beat % routes.length]);
      t.equal(response.statusCode, 200, `heartbeat ${beat} through ${routes[beat % routes.length].url}`);
      await new Promise((resolve) => setTimeout(resolve, (3 * ttlMs) / beats));
    }
    const lastBeat = Date.now();
    t.same(critical, [], 'the check never left passing on either node');
    t.equal(b.catalog.instance('beating')?.modifyIndex, registered.index, 'no heartbeat was a catalog write');
    const store = openEtcdStore(t, etcd.endpoints, '/');
    const ledger = await store.client.kv.range({
      key: Buffer.from(`${a.config.store.etcd.prefix}heartbeats/${checkId}/a`),
    });
    const writes = Number(ledger.kvs[0]?.version ?? 0);
    t.ok(writes >= 2, `a shared its heartbeats (${writes} writes)`);
    t.ok(writes <= 3 * 3 + 2, `at most one write per third of the TTL, not one per heartbeat (${writes} for ${beats})`);

    await eventually('b turns it critical', () => statusOn(b, checkId) === 'critical', ttlMs + 2000);
    t.ok(Date.now() - lastBeat >= ttlMs * (2 / 3), 'not before the TTL (less the share a node may not have written)');
    await eventually('a shows it too', () => statusOn(a, checkId) === 'critical');
    t.match(b.catalog.findCheck(checkId)?.check.note, /TTL expired/);

    const revived = await a.app.inject({ method: 'PUT', url: `/v1/agent/check/pass/${checkId}` });
    t.equal(revived.statusCode, 200);
    await eventually('a heartbeat on a brings it back on b', () => statusOn(b, checkId) === 'passing');
    await eventually('and the owner runs its deadline again', () => statusOn(b, checkId) === 'critical', ttlMs + 2000);
  });

  t.test(
    'the owner that took the last heartbeat stops: another node fails the check from the shared time',
    async (t) => {
      const [a, b] = await startCluster(t, etcd, ['a', 'b']);
      const checkId = idOwnedBy('a', ['a', 'b'], 'lone');
      const ttlMs = 3000;
      await b.catalog.register(
        web(1, { id: 'lone', checks: [{ id: checkId, type: 'ttl', ttl: `${ttlMs}ms`, status: 'critical' }] }),
      );
      await eventually('a holds the check', () => a.health.owns(checkId));
      for (let beat = 0; beat < 4; beat++) {
        t.equal((await a.app.inject({ method: 'PUT', url: `/health/check/${checkId}/pass` })).statusCode, 200);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const lastBeat = Date.now();
      await eventually('b sees it passing', () => statusOn(b, checkId) === 'passing');
      // a goes quiet for most of a TTL, then stops: b takes the check over with little TTL left.
      // Counting the TTL from the takeover (as a lone node counts from start-up) would be late.
      await new Promise((resolve) => setTimeout(resolve, ttlMs - 500));
      await a.close();
      await eventually(
        'b turns it critical',
        () => statusOn(b, checkId) === 'critical',
        lastBeat + ttlMs + 2000 - Date.now(),
      );
    },
  );

  t.test('an output-only change is written at most once per outputSyncInterval', async (t) => {
    let served = 0;
    const target = createServer((_request, response) => response.end(`load ${++served}`));
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => target.close(() => resolve())));
    const url = `http://127.0.0.1:${(target.address() as { port: number }).port}/`;

    const [a, b] = await startCluster(t, etcd, ['a', 'b'], { outputSyncInterval: '1h' });
    await a.catalog.register(
      web(1, { id: 'noisy', checks: [{ id: 'noisy-http', type: 'http', http: url, interval: '1s' }] }),
    );
    await eventually(
      'the first result is on both nodes',
      () => statusOn(a, 'noisy-http') === 'passing' && statusOn(b, 'noisy-http') === 'passing',
    );
    const first = b.catalog.findCheck('noisy-http')!.check.note;
    const index = b.catalog.instance('noisy')!.modifyIndex;
    const seen = served;
    await eventually('three more runs with new output', () => served >= seen + 3);
    for (const node of [a, b]) {
      t.equal(node.catalog.findCheck('noisy-http')!.check.note, first, 'every node still shows the first output');
      t.equal(node.catalog.instance('noisy')!.modifyIndex, index, 'and nothing was written');
    }

    const [c, d] = await startCluster(t, etcd, ['c', 'd'], { outputSyncInterval: '0s' });
    await c.catalog.register(
      web(2, { id: 'chatty', checks: [{ id: 'chatty-http', type: 'http', http: url, interval: '1s' }] }),
    );
    await eventually('the first result is on both nodes', () => statusOn(d, 'chatty-http') === 'passing');
    const before = d.catalog.findCheck('chatty-http')!.check.note;
    await eventually(
      'a new output reaches the other node',
      () => d.catalog.findCheck('chatty-http')!.check.note !== before,
    );
    t.equal(statusOn(c, 'chatty-http'), 'passing', 'with a zero period every new output is written');
  });
});

t.test('a node that lost its membership cannot overwrite the status a newer owner wrote', async (t) => {
  const etcd = await startEtcd(t, 1);
  const prefix = uniquePrefix();
  const store = openEtcdStore(t, etcd.endpoints, prefix);
  const a = await Catalog.open(store, { checkDefaults: CHECK_DEFAULTS, catchUpTimeoutMs: 2000 });
  t.teardown(() => a.close());
  const b = await openEtcdCatalog(t, etcd.endpoints, prefix);
  const membership = new Membership(store.client, store.keys, 'a', 2, pino({ level: 'silent' }));
  t.teardown(() => membership.stop());
  await membership.start({ http: '127.0.0.1:1', dns: null, version: 'test', startedAt: 0 });
  const stale = membership.fence();
  t.not(stale, null, 'a is a member');
  t.same(membership.members(), ['a']);

  await a.register(web(1, { id: 'w1', checks: [{ id: 'w1-ttl', type: 'ttl', ttl: '1h', status: 'passing' }] }));
  t.equal(await outcome(a.updateCheck('w1-ttl', 'warning', 'a, while a member', { fence: stale! })), 'ok');

  // a's lease runs out while a cannot tell (etcd deletes the key, as here another client does);
  // the check's new owner writes its status.
  await store.client.delete().key(`${prefix}members/a`);
  await eventually('b sees the warning', () => b.findCheck('w1-ttl')?.check.status === 'warning');
  const written = await b.updateCheck('w1-ttl', 'passing', 'b, the new owner');
  t.equal(
    await outcome(a.updateCheck('w1-ttl', 'critical', 'a, stale', { fence: stale! })),
    'not_check_owner',
    'the stale owner’s result is refused',
  );
  t.equal(await outcome(a.deregister('w1', stale!)), 'not_check_owner', 'and so is its deregistration');
  await eventually('a has caught up', () => a.index >= written!);
  for (const node of [a, b]) t.match(node.findCheck('w1-ttl')?.check, { status: 'passing', note: 'b, the new owner' });

  await eventually('a joins again under a new key', () => {
    const fence = membership.fence();
    return fence !== null && fence.createRevision !== stale!.createRevision;
  });
  t.equal(
    await outcome(a.updateCheck('w1-ttl', 'critical', 'a, member again', { fence: membership.fence()! })),
    'ok',
    'under its new membership it writes again',
  );
});

t.test('a cluster node says who it is in the probes it sends', async (t) => {
  const etcd = await startEtcd(t, 1);
  const target = await startHttpTarget(t);
  const [a] = await startCluster(t, etcd, ['solo']);
  await a.catalog.register(
    web(1, { id: 'w', checks: [{ id: 'w-http', type: 'http', http: target.url, interval: '1s' }] }),
  );
  await target.until('a probe', () => target.requests.length > 0);
  t.equal(target.requests[0].headers['x-konsul-node'], 'solo');
  t.equal(a.health.owned, 1, 'a lone member owns every check');
});

t.test('a refused write waits for what beat it, not for keys the catalog does not follow', async (t) => {
  const etcd = await startEtcd(t, 1);
  const prefix = uniquePrefix();
  const store = openEtcdStore(t, etcd.endpoints, prefix);
  const catalog = await Catalog.open(store, { checkDefaults: CHECK_DEFAULTS, catchUpTimeoutMs: 2000 });
  t.teardown(() => catalog.close());
  const registered = await catalog.register(web(1, { id: 'x' }));
  // A heartbeat moves etcd's revision; the catalog's watch never carries it.
  await store.client.put(`${prefix}heartbeats/x-ttl/a`).value('1');
  const refused = await store.commitIf([
    {
      id: 'x',
      instance: catalog.instance('x')!,
      expected: { instanceIndex: registered.index - 1, claimedCheckIds: [], releasedCheckIds: [] },
    },
  ]);
  t.same(refused, { committed: false, index: registered.index }, 'the instance’s own revision');
});

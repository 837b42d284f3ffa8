import t from 'tap';
import { join } from 'node:path';
import type { Catalog, CatalogEvent } from '../src/catalog/catalog.js';
import { KonsulError } from '../src/errors.js';
import { openCatalog, tempDir } from './helpers/catalog.js';
import { openEtcdCatalog, startEtcd, uniquePrefix } from './helpers/etcd.js';

/**
 * The contract every catalog store keeps, run against SQLite and against etcd: what a writer
 * is acknowledged is what a reader on the same node sees, indexes only grow, the cross-instance
 * rules (check ids, moves, upsert) hold, and a reopened catalog holds what was acknowledged.
 */
interface StoreKind {
  name: string;
  /** A fresh, empty catalog location and a way to open catalogs on it (several times, for reopening). */
  location(t: Tap): () => Promise<Catalog>;
}
interface Tap {
  teardown(fn: () => unknown): void;
}

const etcd = await startEtcd(t, 1);

const kinds: StoreKind[] = [
  {
    name: 'sqlite',
    location(t) {
      const file = join(tempDir(t), 'k.db');
      return () => openCatalog(t, file);
    },
  },
  {
    name: 'etcd',
    location(t) {
      const prefix = uniquePrefix();
      return () => openEtcdCatalog(t, etcd.endpoints, prefix);
    },
  },
];

const web = (n: number, extra: Record<string, unknown> = {}) => ({
  name: 'web',
  address: `10.0.0.${n}`,
  port: 8080,
  ...extra,
});

async function rejection(promise: Promise<unknown>): Promise<KonsulError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof KonsulError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

for (const kind of kinds) {
  t.test(`${kind.name} store`, async (t) => {
    t.test('an acknowledged registration is visible at once, with the index it was acknowledged with', async (t) => {
      const catalog = await kind.location(t)();
      const before = catalog.index;
      const result = await catalog.register(web(1, { id: 'a' }));
      t.ok(result.index > before, 'the write index is above everything seen before');
      const instance = catalog.instance('a')!;
      t.equal(instance.createIndex, result.index);
      t.equal(instance.modifyIndex, result.index);
      t.ok(catalog.index >= result.index);
      t.equal(catalog.service('web')!.index, result.index);
      t.equal(catalog.query({ name: 'web' }).instances.length, 1);
    });

    t.test('indexes only grow, across registrations, check results and removals', async (t) => {
      const catalog = await kind.location(t)();
      const seen: number[] = [];
      seen.push((await catalog.register(web(1, { id: 'a', checks: [{ id: 'c', type: 'ttl', ttl: '30s' }] }))).index);
      seen.push((await catalog.register(web(2, { id: 'b' }))).index);
      seen.push((await catalog.updateCheck('c', 'passing', 'ok'))!);
      seen.push((await catalog.deregister('b')).index);
      for (let i = 1; i < seen.length; i++) t.ok(seen[i] > seen[i - 1], `write ${i} has a higher index`);
      t.equal(catalog.index, seen[seen.length - 1]);
    });

    t.test('registering an id again keeps its create index and replaces the rest', async (t) => {
      const catalog = await kind.location(t)();
      const first = await catalog.register(web(1, { id: 'a', tags: ['v1'] }));
      const second = await catalog.register(web(2, { id: 'a', tags: ['v2'], weight: 5 }));
      const instance = catalog.instance('a')!;
      t.same(instance.tags, ['v2']);
      t.equal(instance.weight, 5);
      t.equal(instance.createIndex, first.index);
      t.equal(instance.modifyIndex, second.index);
      t.equal(catalog.service('web')!.instances.length, 1);
    });

    t.test('an instance moving to another service leaves the old one, whose index moves too', async (t) => {
      const catalog = await kind.location(t)();
      await catalog.register(web(1, { id: 'a' }));
      const moved = await catalog.register({ id: 'a', name: 'api', address: '10.0.0.1', port: 80 });
      t.equal(catalog.query({ name: 'web' }).instances.length, 0);
      t.ok(catalog.serviceIndex('web') >= moved.index, 'a watcher of web sees the move');
      t.equal(catalog.service('api')!.instances[0].id, 'a');
      t.same(
        catalog.summaries().map((summary) => summary.name),
        ['api'],
      );
    });

    t.test('a check id held by another instance is refused with 409 and nothing changes', async (t) => {
      const catalog = await kind.location(t)();
      await catalog.register(web(1, { id: 'a', checks: [{ id: 'shared', type: 'ttl', ttl: '30s' }] }));
      const index = catalog.index;
      const error = await rejection(
        catalog.register(web(2, { id: 'b', checks: [{ id: 'shared', type: 'ttl', ttl: '30s' }] })),
      );
      t.equal(error.code, 'check_id_taken');
      t.equal(error.statusCode, 409);
      t.equal(catalog.instance('b'), undefined);
      t.equal(catalog.findCheck('shared')!.instance.id, 'a');
      t.equal(catalog.index, index);
    });

    t.test('a check id given up by one instance can be taken by another', async (t) => {
      const catalog = await kind.location(t)();
      await catalog.register(web(1, { id: 'a', checks: [{ id: 'moving', type: 'ttl', ttl: '30s' }] }));
      await catalog.register(web(1, { id: 'a' }));
      await catalog.register(web(2, { id: 'b', checks: [{ id: 'moving', type: 'ttl', ttl: '30s' }] }));
      t.equal(catalog.findCheck('moving')!.instance.id, 'b');
      await catalog.deregister('b');
      await catalog.register(web(1, { id: 'a', checks: [{ id: 'moving', type: 'ttl', ttl: '30s' }] }));
      t.equal(catalog.findCheck('moving')!.instance.id, 'a');
    });

    t.test('removing an unknown instance is 404; removing a known one frees its service slot', async (t) => {
      const catalog = await kind.location(t)();
      t.equal((await rejection(catalog.deregister('nope'))).code, 'instance_not_found');
      const registered = await catalog.register(web(1, { id: 'a' }));
      const removed = await catalog.deregister('a');
      t.ok(removed.index > registered.index);
      t.equal(catalog.instance('a'), undefined);
      t.equal(catalog.query({ name: 'web' }).instances.length, 0);
    });

    t.test('a status change is a write; the same status with a new note is not', async (t) => {
      const catalog = await kind.location(t)();
      await catalog.register(web(1, { id: 'a', checks: [{ id: 'c', type: 'ttl', ttl: '30s' }] }));
      t.equal(catalog.instance('a')!.status, 'critical');
      const index = await catalog.updateCheck('c', 'passing', 'up');
      t.ok(index !== null && index > 0);
      t.equal(catalog.instance('a')!.status, 'passing');
      t.equal(catalog.instance('a')!.modifyIndex, index);
      t.equal(await catalog.updateCheck('c', 'passing', 'still up'), null);
      t.equal(catalog.findCheck('c')!.check.note, 'still up');
      t.equal(catalog.index, index);
    });

    t.test('a blocking wait wakes on a write to its service and not on another', async (t) => {
      const catalog = await kind.location(t)();
      await catalog.register(web(1, { id: 'a' }));
      const index = catalog.serviceIndex('web');
      let woke = false;
      const waiting = catalog.waitForChange('web', index, 30_000).then(() => (woke = true));
      await catalog.register({ id: 'x', name: 'other', address: '10.0.0.9', port: 1 });
      await new Promise((resolve) => setImmediate(resolve));
      t.notOk(woke, 'a write to another service does not wake it');
      const written = await catalog.register(web(2, { id: 'b' }));
      await waiting;
      t.ok(catalog.serviceIndex('web') >= written.index);
    });

    t.test('subscribers hear every registration and removal', async (t) => {
      const catalog = await kind.location(t)();
      const events: CatalogEvent['kind'][] = [];
      catalog.subscribe((event) => events.push(event.kind));
      await catalog.register(web(1, { id: 'a' }));
      await catalog.deregister('a');
      t.same(events, ['registered', 'deregistered']);
    });

    t.test('a reopened catalog holds every acknowledged instance, check and status', async (t) => {
      const open = kind.location(t);
      const first = await open();
      await first.register(
        web(1, { id: 'a', tags: ['x'], meta: { k: 'v' }, checks: [{ id: 'c', type: 'ttl', ttl: '30s' }] }),
      );
      await first.register(web(2, { id: 'b', weight: 3 }));
      await first.updateCheck('c', 'warning', 'slow');
      await first.register({ id: 'm', name: 'api', address: '10.0.0.3', port: 1 });
      await first.deregister('m');
      const expected = [...first.allInstances()].sort((x, y) => (x.id < y.id ? -1 : 1));
      const index = first.index;
      await first.close();
      const second = await open();
      const reloaded = [...second.allInstances()].sort((x, y) => (x.id < y.id ? -1 : 1));
      t.same(reloaded, expected);
      t.equal(second.findCheck('c')!.check.status, 'warning');
      t.equal(second.findCheck('c')!.check.note, 'slow');
      t.ok(second.index >= index, 'the reopened catalog does not go back in index');
      const next = await second.register(web(3, { id: 'd' }));
      t.ok(next.index > index);
    });

    t.test('a service config is a write that moves the service index and survives reopening', async (t) => {
      const open = kind.location(t);
      const first = await open();
      await first.register(web(1, { id: 'a' }));
      const before = first.serviceIndex('web');
      let woke = false;
      const waiting = first.waitForChange('web', before, 30_000).then(() => (woke = true));
      const set = await first.configureService('WEB', { lb: 'ring-hash', limit: 2, passing: true, panicThreshold: 40 });
      await waiting;
      t.ok(woke, 'a blocking query on the service wakes');
      t.equal(set.name, 'web');
      t.ok(set.index > before);
      t.equal(first.serviceIndex('web'), set.index);
      t.same(first.serviceConfig('web'), {
        name: 'web',
        config: { lb: 'ring-hash', limit: 2, passing: true, panicThreshold: 40 },
        modifyIndex: set.index,
      });
      t.equal(first.query({ name: 'web' }).instances.length, 1, 'the instances are untouched');
      // A config for a service with no instance yet is kept, and its index is the service's.
      const lone = await first.configureService('api', { limit: 1 });
      t.equal(first.serviceIndex('api'), lone.index);
      await first.close();
      const second = await open();
      t.same(second.serviceConfig('web')?.config, { lb: 'ring-hash', limit: 2, passing: true, panicThreshold: 40 });
      t.same(second.serviceConfig('api')?.config, { limit: 1 });
      t.ok(second.serviceIndex('web') >= set.index, 'the service index does not go back');
      const removed = await second.configureService('web', null);
      t.ok(removed.index > set.index);
      t.equal(second.serviceConfig('web'), undefined);
      t.equal((await rejection(second.configureService('web', null))).code, 'service_config_not_found');
      t.same(
        second.serviceConfigs().map((entry) => entry.name),
        ['api'],
      );
    });

    t.test('maintenance is a write kept across re-registration and reopening, until taken out', async (t) => {
      const open = kind.location(t);
      const first = await open();
      await first.register(web(1, { id: 'a' }));
      const before = first.serviceIndex('web');
      const on = await first.setMaintenance('a', 'deploy');
      t.ok(on.index > before);
      t.equal(on.maintenance?.reason, 'deploy');
      t.equal(first.serviceIndex('web'), on.index, 'watchers of the service see it');
      t.equal(first.instance('a')!.maintenance?.reason, 'deploy');
      const again = await first.setMaintenance('a', 'deploy');
      t.equal(again.index, on.index, 'the same reason again writes nothing');
      await first.register(web(1, { id: 'a', tags: ['v2'] }));
      t.equal(first.instance('a')!.maintenance?.reason, 'deploy', 're-registration keeps it');
      t.equal((await rejection(first.setMaintenance('nope', 'x'))).code, 'instance_not_found');
      await first.close();
      const second = await open();
      t.same(second.instance('a')!.maintenance, on.maintenance, 'it survives reopening');
      const off = await second.setMaintenance('a', null);
      t.equal(off.maintenance, null);
      t.equal(second.instance('a')!.maintenance, undefined);
      t.notOk('maintenance' in second.instance('a')!, 'no maintenance key is left behind');
    });

    t.test('concurrent writes to one id on one node all land, the last one queued wins', async (t) => {
      const catalog = await kind.location(t)();
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => catalog.register(web(1, { id: 'same', meta: { n: String(i) } }))),
      );
      const indexes = results.map((result) => result.index);
      t.equal(new Set(indexes).size, indexes.length, 'each write got its own index');
      t.equal(catalog.instance('same')!.meta.n, '9');
      t.equal(catalog.instance('same')!.modifyIndex, Math.max(...indexes));
    });
  });
}

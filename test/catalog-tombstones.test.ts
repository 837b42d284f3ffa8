/**
 * Services whose last instance left are kept (their index, for blocking queries) for the
 * tombstone TTL, then forgotten: row, index and metric series. Clocks are injected; the reap is
 * called directly where the server's sweep timer would call it.
 */
import t from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { CatalogEvent } from '../src/catalog/catalog.js';
import { openCatalog, tempDir } from './helpers/catalog.js';
import { json, startTestKonsul } from './helpers/konsul.js';

const TTL = 60_000;

function serviceRows(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT name FROM services ORDER BY name').all() as { name: string }[]).map((row) => row.name);
  } finally {
    db.close();
  }
}

t.test('a service with no instance keeps its index for the TTL, then is forgotten, row and all', async (t) => {
  const file = join(tempDir(t), 'k.db');
  let now = 1_000_000;
  const catalog = await openCatalog(t, file, { now: () => now, tombstoneTtlMs: TTL });
  const events: CatalogEvent[] = [];
  catalog.subscribe((event) => events.push(event));
  await catalog.register({ id: 'a', name: 'gone', address: '10.0.0.1', port: 80 });
  const removed = await catalog.deregister('a');
  await catalog.register({ id: 'b', name: 'kept', address: '10.0.0.2', port: 80 });
  t.equal(catalog.serviceIndex('gone'), removed.index, 'the removal is visible as the service index');
  t.equal(catalog.tombstoneCount, 1);

  now += TTL - 1;
  t.equal(await catalog.reapTombstones(), 0, 'nothing is forgotten before the TTL');
  t.not(catalog.service('gone'), undefined);

  now += 1;
  t.equal(await catalog.reapTombstones(), 1);
  t.equal(catalog.service('gone'), undefined, 'the service is gone from memory');
  t.equal(catalog.tombstoneCount, 0);
  t.ok(catalog.serviceIndex('gone') > removed.index, "its reads report the catalog's index, above the removal");
  t.match(events.at(-1), { kind: 'services-forgotten', names: ['gone'], index: catalog.index });
  t.not(catalog.service('kept'), undefined, 'a service with instances is never touched');
  await catalog.close();
  t.same(serviceRows(file), ['kept'], 'and from the file');
});

t.test('a blocking query held on a service when it is forgotten wakes to a higher index', async (t) => {
  let now = 1_000_000;
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'), { now: () => now, tombstoneTtlMs: TTL });
  await catalog.register({ id: 'a', name: 'gone', address: '10.0.0.1', port: 80 });
  const { index } = await catalog.deregister('a');
  let woke = false;
  const watcher = catalog.waitForChange('gone', index, 600_000).then(() => (woke = true));
  // Another service's write does not wake it: nothing about "gone" changed.
  await catalog.register({ id: 'b', name: 'other', address: '10.0.0.2', port: 80 });
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(woke, false);
  now += TTL;
  await catalog.reapTombstones();
  await watcher;
  t.ok(catalog.serviceIndex('gone') > index, 'the answer carries an index above the one it held');
  // A watcher that comes back with an index from before the removal answers at once.
  await catalog.waitForChange('gone', index - 1, 600_000);
  // One that comes back with the new index waits for the next change and sees a re-registration.
  const next = catalog.serviceIndex('gone');
  const again = catalog.waitForChange('gone', next, 600_000);
  const back = await catalog.register({ id: 'c', name: 'gone', address: '10.0.0.3', port: 80 });
  await again;
  t.equal(catalog.serviceIndex('gone'), back.index);
  t.ok(back.index > next);
});

t.test('a service that gets an instance back before the TTL is not forgotten', async (t) => {
  let now = 1_000_000;
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'), { now: () => now, tombstoneTtlMs: TTL });
  await catalog.register({ id: 'a', name: 'web', address: '10.0.0.1', port: 80 });
  await catalog.deregister('a');
  now += TTL / 2;
  await catalog.register({ id: 'b', name: 'web', address: '10.0.0.2', port: 80 });
  now += TTL;
  t.equal(await catalog.reapTombstones(), 0);
  t.equal(catalog.service('web')?.instances.length, 1);
  // A registration queued in the same batch ahead of the reap keeps the service.
  await catalog.deregister('b');
  now += TTL;
  const registered = catalog.register({ id: 'c', name: 'web', address: '10.0.0.3', port: 80 });
  const reap = catalog.reapTombstones();
  t.equal(await reap, 0);
  await registered;
  t.equal(catalog.tombstoneCount, 0);
  t.equal(catalog.service('web')?.instances.length, 1);
});

t.test('empty services found at start-up are forgotten a TTL after it', async (t) => {
  const file = join(tempDir(t), 'k.db');
  let now = 1_000_000;
  const first = await openCatalog(t, file, { now: () => now });
  await first.register({ id: 'a', name: 'old', address: '10.0.0.1', port: 80 });
  await first.deregister('a');
  await first.close();
  t.same(serviceRows(file), ['old']);
  now += 10 * TTL;
  const second = await openCatalog(t, file, { now: () => now, tombstoneTtlMs: TTL });
  t.equal(second.tombstoneCount, 1);
  t.equal(await second.reapTombstones(), 0, 'the grace period starts again at start-up');
  now += TTL;
  t.equal(await second.reapTombstones(), 1);
  await second.close();
  t.same(serviceRows(file), []);
});

t.test(
  'register-query-deregister with unique names leaves no service rows and no metric series once the TTL passes',
  async (t) => {
    let now = Date.now();
    const server = await startTestKonsul(
      t,
      { catalog: { serviceTombstoneTtl: '1m' }, health: { enabled: false } },
      { now: () => now },
    );
    const names = Array.from({ length: 30 }, (_, n) => `churn-${n}`);
    for (const name of names) {
      const registered = await server.app.inject({
        method: 'PUT',
        url: '/catalog/register',
        payload: { id: name, name, address: '10.0.0.1', port: 80 },
      });
      t.equal(registered.statusCode, 200);
      const listed = await server.app.inject({ method: 'GET', url: `/catalog/services/${name}` });
      t.equal(json<unknown[]>(listed).length, 1);
      t.equal((await server.app.inject({ method: 'DELETE', url: `/catalog/instances/${name}` })).statusCode, 200);
    }
    const seriesOf = async () => {
      const text = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
      return text.split('\n').filter((line) => /^konsul_lb_\w+\{[^}]*service="churn-/.test(line)).length;
    };
    t.ok((await seriesOf()) >= names.length, 'each name has its series while its tombstone lasts');
    now += 60_000;
    t.equal(await server.catalog.reapTombstones(), names.length);
    t.equal(await seriesOf(), 0, 'no series is left for a forgotten service');
    const listed = await server.app.inject({ method: 'GET', url: '/catalog/services/churn-0' });
    t.same(json(listed), [], 'a forgotten service reads as empty');
    const metrics = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
    t.match(metrics, /\nkonsul_catalog_tombstones 0\n/);
    const file = server.catalog.location;
    await server.close();
    t.same(serviceRows(file), [], 'and no row is left in the file');
  },
);

/**
 * The catalog's own timers, the tombstone sweep, the storage retry and blocking-query timeouts,
 * run on the clock it is given: on a virtual clock they fire when the test moves it, never by waiting.
 */
import t from 'tap';
import { join } from 'node:path';
import { Catalog, type CatalogEvent, type StorageFailure } from '../src/catalog/catalog.js';
import { SqliteStore } from '../src/catalog/sqlite-store.js';
import type { CatalogWrite } from '../src/catalog/store.js';
import { CHECK_DEFAULTS, tempDir } from './helpers/catalog.js';
import { VirtualClock } from './helpers/virtual-clock.js';

/** A real SQLite store that refuses writes while `refusing` is set, as a full disk would. */
class RefusingStore extends SqliteStore {
  refusing = false;

  override async commit(writes: readonly CatalogWrite[]): Promise<void> {
    if (this.refusing) throw new Error('database or disk is full');
    return super.commit(writes);
  }

  override async probe(): Promise<void> {
    if (this.refusing) throw new Error('database or disk is full');
    return super.probe();
  }
}

t.test(
  'the tombstone sweep forgets an empty service by itself once the TTL has passed on the catalog clock',
  async (t) => {
    const clock = new VirtualClock();
    const catalog = await Catalog.open(new SqliteStore(join(tempDir(t), 'k.db')), {
      checkDefaults: CHECK_DEFAULTS,
      tombstoneTtlMs: 60_000,
      clock,
    });
    t.teardown(() => catalog.close());
    const forgotten: string[] = [];
    catalog.subscribe((event: CatalogEvent) => {
      if (event.kind === 'services-forgotten') forgotten.push(...event.names);
    });
    await catalog.register({ id: 'a', name: 'gone', address: '10.0.0.1', port: 80 });
    await catalog.deregister('a');
    t.equal(catalog.tombstoneCount, 1);
    // Sweeps every 30 s: the one at 60 s finds the tombstone exactly at its TTL.
    await clock.advance(59_999);
    t.same(forgotten, [], 'kept for the TTL');
    const swept = new Promise<void>((resolve) =>
      catalog.subscribe((event) => event.kind === 'services-forgotten' && resolve()),
    );
    await clock.advance(1);
    await swept;
    t.same(forgotten, ['gone'], 'forgotten by the sweep, nothing called it');
    t.equal(catalog.tombstoneCount, 0);
    t.equal(clock.pending, 1, 'and the next sweep is armed');
    await catalog.close();
    t.equal(clock.pending, 0, 'close() clears it');
  },
);

t.test('a failing store is tried again after storageRetryMs on the catalog clock, with no new write', async (t) => {
  const clock = new VirtualClock();
  const store = new RefusingStore(join(tempDir(t), 'k.db'));
  const health: (StorageFailure | null)[] = [];
  let recovered: () => void = () => undefined;
  const catalog = await Catalog.open(store, {
    checkDefaults: CHECK_DEFAULTS,
    storageRetryMs: 60_000,
    clock,
    onStorageHealth: (failure) => {
      health.push(failure);
      if (failure === null) recovered();
    },
  });
  t.teardown(() => catalog.close());
  store.refusing = true;
  await t.rejects(catalog.register({ id: 'a', name: 'web', address: '10.0.0.1', port: 80 }), {
    code: 'storage_unavailable',
  });
  t.match(catalog.storage, { failure: { message: /disk is full/ }, failedCommits: 1 });
  t.equal(catalog.storage.failure?.since, clock.now(), 'the failure is dated by the catalog clock');
  store.refusing = false;
  await clock.advance(59_999);
  t.not(catalog.storage.failure, null, 'no retry before storageRetryMs');
  const back = new Promise<void>((resolve) => (recovered = resolve));
  await clock.advance(1);
  await back;
  t.equal(catalog.storage.failure, null, 'the retry found the store writable again');
  t.equal(health.length, 2);
  t.equal(clock.pending, 1, 'only the sweep is left armed');
});

t.test('a blocking query times out on the catalog clock, and a write still wakes it first', async (t) => {
  const clock = new VirtualClock();
  const catalog = await Catalog.open(new SqliteStore(join(tempDir(t), 'k.db')), {
    checkDefaults: CHECK_DEFAULTS,
    clock,
  });
  t.teardown(() => catalog.close());
  const index = catalog.serviceIndex('web');
  const sweepOnly = clock.pending;

  let timedOut = false;
  const waiting = catalog.waitForChange('web', index, 300_000).then(() => (timedOut = true));
  t.equal(clock.pending, sweepOnly + 1, "the wait's timeout is a timer of the catalog clock");
  await clock.advance(299_999);
  t.equal(timedOut, false, 'still waiting a millisecond before its timeout');
  await clock.advance(1);
  await waiting;
  t.equal(timedOut, true, 'answered at its timeout, with no real time passing');
  t.equal(catalog.serviceIndex('web'), index, 'with nothing changed');

  const woken = catalog.waitForChange('web', index, 300_000);
  await catalog.register({ id: 'a', name: 'web', address: '10.0.0.1', port: 80 });
  await woken;
  t.ok(catalog.serviceIndex('web') > index, 'a write wakes the waiter before its timeout');
  t.equal(clock.pending, sweepOnly, 'and its timer is cleared');
});

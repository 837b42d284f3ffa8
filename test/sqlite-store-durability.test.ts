import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { SqliteStore } from '../src/catalog/sqlite-store.js';
import { StorageError, type CatalogWrite } from '../src/catalog/store.js';
import { tempDir } from './helpers/catalog.js';
import { instance } from './helpers/lb-fixtures.js';

// In `full` mode a commit is durable once the write-ahead log is on the disk. SQLite's own FULL
// mode fsyncs inside the commit, on the event loop; the store flushes the log itself, with a
// call that does not hold the loop (fdatasync on libuv's thread pool), and resolves after it.

function upsert(index: number, id: string): CatalogWrite {
  return { kind: 'upsert', index, instance: { ...instance({ id }), createIndex: index, modifyIndex: index } };
}

const turn = (): Promise<void> => new Promise((resolveTurn) => setImmediate(resolveTurn));

t.test('in full mode a commit resolves only once the write-ahead log is flushed, off the loop', async (t) => {
  const file = join(tempDir(t), 'k.db');
  const flushes: { fd: number; done: () => void }[] = [];
  const store = new SqliteStore(file, {
    synchronous: 'full',
    syncFile: (fd) => new Promise<void>((resolveFlush) => flushes.push({ fd, done: resolveFlush })),
  });
  t.teardown(() => store.close());

  let committed = false;
  const commit = store.commit([upsert(1, 'w1')]).then(() => {
    committed = true;
  });
  await turn();
  t.equal(flushes.length, 1, 'the commit asked for one flush');
  t.equal(readlinkSync(`/proc/self/fd/${flushes[0].fd}`), `${file}-wal`, 'of the write-ahead log');
  t.equal(committed, false, 'and is not done before it');
  flushes[0].done();
  await commit;
  t.equal(committed, true, 'done once the log is on the disk');

  const probe = store.probe();
  await turn();
  t.equal(flushes.length, 2, 'a probe flushes the log too: it must fail where a commit would');
  flushes[1].done();
  await probe;

  await store.close();
  const again = new SqliteStore(file, { synchronous: 'normal' });
  t.teardown(() => again.close());
  t.same(
    (await again.load()).instances.map((instance) => instance.id),
    ['w1'],
    'the committed instance is in the file',
  );
});

t.test('in normal mode a commit flushes nothing', async (t) => {
  let flushes = 0;
  const store = new SqliteStore(join(tempDir(t), 'k.db'), {
    synchronous: 'normal',
    syncFile: async () => {
      flushes++;
    },
  });
  t.teardown(() => store.close());
  await store.commit([upsert(1, 'w1')]);
  await store.probe();
  t.equal(flushes, 0);
});

t.test('a failed flush fails the commit with a storage error that names the file', async (t) => {
  const file = join(tempDir(t), 'k.db');
  const store = new SqliteStore(file, {
    synchronous: 'full',
    syncFile: () => Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })),
  });
  t.teardown(() => store.close());
  const failure = await store.commit([upsert(1, 'w1')]).then(
    () => null,
    (error: unknown) => error,
  );
  t.ok(failure instanceof StorageError, 'a StorageError');
  t.match((failure as Error).message, file);
  t.match((failure as Error).message, /EIO/);
});

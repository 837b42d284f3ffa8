import { readlinkSync, statSync } from 'node:fs';
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

// Checkpoints: SQLite's automatic one flushed the log and the file inside the commit that
// crossed 1,000 frames, on the event loop. The store copies the log itself, before a write,
// with both flushes through syncFile (the thread pool), and the write waits for them.

const PAGE_FRAME_BYTES = 4096 + 24;

/** A syncFile that records which file each flush was of, by name. */
function recordFlushes(file: string): { names: string[]; syncFile: (fd: number) => Promise<void> } {
  const names: string[] = [];
  return {
    names,
    syncFile: async (fd) => {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      names.push(target === file ? 'file' : target === `${file}-wal` ? 'log' : target);
    },
  };
}

t.test('a checkpoint flushes the log, copies it, flushes the file, and then the write goes', async (t) => {
  const file = join(tempDir(t), 'k.db');
  const pendingFileFlushes: (() => void)[] = [];
  const names: string[] = [];
  let holdFileFlushes = false;
  const store = new SqliteStore(file, {
    synchronous: 'full',
    checkpointFrames: 4,
    syncFile: (fd) => {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      names.push(target === file ? 'file' : 'log');
      if (target !== file || !holdFileFlushes) return Promise.resolve();
      return new Promise<void>((resolveFlush) => pendingFileFlushes.push(resolveFlush));
    },
  });
  t.teardown(() => store.close());
  // The schema's own pages make the first commit copy the log; the test watches the next one.
  await store.commit([upsert(1, 'w1')]);
  holdFileFlushes = true;

  let index = 1;
  let checkpointed = false;
  while (!checkpointed && index < 50) {
    index++;
    const commit = store.commit([upsert(index, `w${index}`)]);
    await turn();
    checkpointed = pendingFileFlushes.length > 0;
    if (checkpointed) {
      t.same(names.slice(-2), ['log', 'file'], 'the log is flushed before the copy, the file after it');
      t.notOk(
        (await store.load()).instances.some((instance) => instance.id === `w${index}`),
        'the write waits for the file flush',
      );
      pendingFileFlushes[0]();
      await commit;
      t.same(names.slice(-1), ['log'], 'then the write is made and its log flushed');
      t.ok(
        (await store.load()).instances.some((instance) => instance.id === `w${index}`),
        'and it is there',
      );
    } else await commit;
  }
  t.ok(index >= 2 && index < 50, `a checkpoint came after ${index} commits of a few frames each`);
});

t.test('checkpoints keep the log near its bound, and every write survives them', async (t) => {
  const file = join(tempDir(t), 'k.db');
  const flushes = recordFlushes(file);
  const frames = 8;
  const store = new SqliteStore(file, { synchronous: 'normal', checkpointFrames: frames, syncFile: flushes.syncFile });
  const commits = 300;
  const logBytes: number[] = [];
  for (let index = 1; index <= commits; index++) {
    await store.commit([upsert(index, `w${index}`)]);
    if (index % 50 === 0) logBytes.push(statSync(`${file}-wal`).size);
  }
  // The file keeps its longest length (the schema's pages at first); a commit here adds a few
  // frames, and SQLite alone would let the log grow to 1,000 of them.
  t.ok(logBytes[0] <= 32 + (frames + 16) * PAGE_FRAME_BYTES, `the log held ${logBytes[0]} bytes`);
  t.same(new Set(logBytes).size, 1, `and it grew no further: ${logBytes.join(', ')}`);
  t.ok(flushes.names.length > 0, 'normal mode flushes around checkpoints');
  t.same(
    flushes.names.filter((_, position) => position % 2 === 0),
    flushes.names.filter((name) => name === 'log'),
    'each checkpoint flushes the log first',
  );
  t.equal(flushes.names.filter((name) => name === 'file').length, flushes.names.length / 2, 'and the file after it');
  await store.close();

  const again = new SqliteStore(file, { synchronous: 'normal' });
  t.teardown(() => again.close());
  t.equal((await again.load()).instances.length, commits, 'every committed instance is in the file');
});

t.test('a failed file flush refuses the write and keeps what the log holds', async (t) => {
  const file = join(tempDir(t), 'k.db');
  let failFileFlush = false;
  const store = new SqliteStore(file, {
    synchronous: 'normal',
    checkpointFrames: 4,
    syncFile: async (fd) => {
      if (failFileFlush && readlinkSync(`/proc/self/fd/${fd}`) === file)
        throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    },
  });
  await store.commit([upsert(1, 'w1')]);
  await store.commit([upsert(2, 'w2')]);
  failFileFlush = true;
  let index = 2;
  let failure: unknown = null;
  while (failure === null && index < 50) {
    index++;
    failure = await store.commit([upsert(index, `w${index}`)]).then(
      () => null,
      (error: unknown) => error,
    );
  }
  t.ok(failure instanceof StorageError, 'the write that needed a checkpoint is refused');
  t.match((failure as Error).message, /EIO/);
  await store.close();

  const again = new SqliteStore(file, { synchronous: 'normal' });
  t.teardown(() => again.close());
  const ids = (await again.load()).instances.map((instance) => instance.id);
  t.equal(ids.length, index - 1, 'every write made before it is there');
  t.notOk(ids.includes(`w${index}`), 'the refused one is not');
});

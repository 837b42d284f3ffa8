import t from 'tap';
import type { Catalog } from '../src/catalog/catalog.js';
import { openEtcdCatalog, outcome, startEtcd, uniquePrefix, web } from './helpers/etcd.js';
import { VirtualClock } from './helpers/virtual-clock.js';

/**
 * Group commit over real etcd (store.etcd.commitLinger): writes queued while a transaction is on
 * its way go in the next one, and with a linger that next one also waits for the writers the
 * first just answered. Every write of one transaction is acknowledged with the same index (its
 * revision), which is what these tests compare.
 */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Four writers register at once (one transaction); one more write is queued while it is on its
 * way; each of the four registers again a few event-loop turns after it is answered, as an HTTP
 * client's next request arrives after the answer went out (later than work queued with
 * setImmediate). Resolves to the indexes of the queued write and of the four second writes.
 */
async function steadyWriters(catalog: Catalog): Promise<{ queued: number; again: number[] }> {
  const writers = [1, 2, 3, 4].map(async (n) => {
    await catalog.register(web(n, { id: `w${n}-first` }));
    for (let i = 0; i < 3; i++) await turn();
    return (await catalog.register(web(n, { id: `w${n}-again` }))).index;
  });
  // The first transaction goes on the next turn; this one is queued behind it.
  await turn();
  const queued = catalog.register(web(9, { id: 'queued' }));
  const again = await Promise.all(writers);
  return { queued: (await queued).index, again };
}

t.test('group commit with a linger', async (t) => {
  const etcd = await startEtcd(t, 1);

  t.test('the writers a transaction answered join the write queued behind it in one transaction', async (t) => {
    // A linger far longer than the test: only the writers coming back can send the transaction.
    const catalog = await openEtcdCatalog(t, etcd.endpoints, uniquePrefix(), { commitLingerMs: 60_000 });
    const { queued, again } = await steadyWriters(catalog);
    t.same(again, [queued, queued, queued, queued], 'the queued write and the four second writes share one revision');
  });

  t.test('without a linger the queued write goes alone, before the writers come back', async (t) => {
    const catalog = await openEtcdCatalog(t, etcd.endpoints, uniquePrefix(), { commitLingerMs: 0 });
    const { queued, again } = await steadyWriters(catalog);
    t.ok(
      again.every((index) => index > queued),
      `the second writes (${again.join(', ')}) come after the queued one (${queued})`,
    );
  });

  t.test('when the answered writers do not come back, the queued write goes once the linger is over', async (t) => {
    const clock = new VirtualClock();
    const catalog = await openEtcdCatalog(t, etcd.endpoints, uniquePrefix(), { commitLingerMs: 50, clock });
    const lingerSet = async () => {
      // The flush that answered `first` finishes a few promise turns later and sets the linger
      // (the catalog's other timers, such as the tombstone sweep, are due much later).
      for (let i = 0; i < 10 && (clock.nextAt ?? Infinity) > clock.now() + 50; i++) await turn();
      return clock.nextAt === clock.now() + 50;
    };
    const first = catalog.register(web(1, { id: 'first' }));
    await turn();
    let queuedIndex = 0;
    const queued = catalog.register(web(2, { id: 'queued' })).then(({ index }) => (queuedIndex = index));
    const firstIndex = (await first).index;
    t.ok(await lingerSet(), 'the next transaction waits on the catalog clock for the linger');
    t.equal(queuedIndex, 0, 'the queued write is not sent before the linger is over');
    await clock.advance(50);
    await queued;
    t.ok(queuedIndex > firstIndex, 'then it is committed');
  });

  t.test('close() does not wait for a linger', async (t) => {
    const clock = new VirtualClock();
    const catalog = await openEtcdCatalog(t, etcd.endpoints, uniquePrefix(), { commitLingerMs: 20_000, clock });
    const first = catalog.register(web(1, { id: 'first' }));
    await turn();
    const queued = outcome(catalog.register(web(2, { id: 'queued' })));
    await first;
    for (let i = 0; i < 10 && (clock.nextAt ?? Infinity) > clock.now() + 20_000; i++) await turn();
    t.equal(clock.nextAt, clock.now() + 20_000, 'a linger is set');
    // The clock never moves: only the close itself can send or refuse the queued write.
    await catalog.close();
    t.match(await queued, /^(ok|shutting_down)$/, 'the queued write is settled by the close');
  });
});

/**
 * Rings and Maglev tables are keyed by membership (ids + weights), shared across filters,
 * health-filtered while walking, bounded in size and bytes, and built off the request path.
 * The repros of issue #13 item 1, scaled down to what a test runs in seconds.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import type { Instance } from '../src/catalog/types.js';
import { createStrategyManager } from '../src/lb/manager.js';
import { buildMaglevTable, MaglevBuild } from '../src/lb/maglev-table.js';
import { Membership } from '../src/lb/membership.js';
import { buildRing, pointsPerInstance, RingBuild } from '../src/lb/ring.js';
import { ScratchBuffer } from '../src/lb/scratch.js';
import { TableBuilder, TASK_OVERSHOOT, TIME_CHECK_UNITS, type BuildTask } from '../src/lb/table-builder.js';
import type { Candidates } from '../src/lb/types.js';
import { ids, instances, keys, lbConfig, movement } from './helpers/lb-fixtures.js';

const KEYS = keys(2_000);
const HASHED = ['ring-hash', 'maglev', 'ip-hash'] as const;

function optionsFor(strategy: string, key: string) {
  return strategy === 'ip-hash' ? { strategy, clientIp: key } : { strategy, sessionKey: key };
}

function firsts(manager: ReturnType<typeof createStrategyManager>, list: Candidates, strategy: string): string[] {
  return KEYS.map((key) => manager.order(list, { ...optionsFor(strategy, key), limit: 1 }).instances[0].id);
}

/** A write to one instance: the catalog replaces that object and the array, and moves the index. */
function rewrite(list: readonly Instance[], id: string, change: Partial<Instance>): Instance[] {
  return list.map((item) => (item.id === id ? { ...item, ...change } : item));
}

for (const strategy of HASHED) {
  t.test(`${strategy}: a health flip rebuilds nothing and moves only the flipped instance's keys`, async (t) => {
    const manager = createStrategyManager(lbConfig());
    const list = instances(20);
    const before = firsts(manager, { key: 'web@1', service: 'web', instances: list }, strategy);
    const builds = manager.cacheStats().builds;
    const flipped = rewrite(list, 'web-07', { status: 'critical' });
    const during = firsts(manager, { key: 'web@2', service: 'web', instances: flipped }, strategy);
    t.equal(manager.cacheStats().builds, builds, 'no table rebuilt');
    const moved = movement(before, during, { removed: 'web-07' });
    t.ok(moved.fromRemoved > 0, `${moved.fromRemoved} keys left web-07`);
    t.equal(moved.fromRemoved, before.filter((id) => id === 'web-07').length, 'every key of web-07 moved');
    t.equal(moved.between, 0, 'no key moved between healthy instances');
    const healed = rewrite(flipped, 'web-07', { status: 'passing' });
    t.same(
      firsts(manager, { key: 'web@3', service: 'web', instances: healed }, strategy),
      before,
      'back where they were',
    );
    t.equal(manager.cacheStats().builds, builds);
  });
}

t.test('re-registering an instance with new meta rebuilds no table (the catalog index is not the key)', async (t) => {
  const manager = createStrategyManager(lbConfig());
  let list = instances(50, { weight: 1000 });
  manager.order({ key: 'heavy@1', service: 'heavy', instances: list }, { strategy: 'ring-hash', sessionKey: 'u1' });
  manager.order({ key: 'heavy@1', service: 'heavy', instances: list }, { strategy: 'maglev', sessionKey: 'u1' });
  const builds = manager.cacheStats().builds;
  const bytes = manager.cacheStats().bytes;
  for (let cycle = 2; cycle < 14; cycle++) {
    list = rewrite(list, 'web-07', { meta: { cycle: String(cycle) } });
    for (const strategy of ['ring-hash', 'maglev']) {
      const answer = manager.order(
        { key: `heavy@${cycle}`, service: 'heavy', instances: list },
        { strategy, sessionKey: 'u1', limit: 1 },
      );
      t.equal(answer.instances.length, 1);
    }
  }
  t.equal(manager.cacheStats().builds, builds, '12 writes, no rebuild');
  t.ok(manager.cacheStats().bytes <= bytes * 1.01, `cache ${manager.cacheStats().bytes} bytes, was ${bytes}`);
});

t.test('every tag filter of a service shares one ring, and answers only with matching instances', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const TAGS = ['t0', 't1', 't2', 't3', 't4', 't5', 't6', 't7', 't8', 't9'];
  // Each instance carries a different subset of ten tags, as in the repro.
  const members = instances(100).map((item, i) => ({ ...item, tags: TAGS.filter((_, bit) => ((i * 37) >> bit) & 1) }));
  for (let query = 0; query < 30; query++) {
    const wanted = TAGS.filter((_, bit) => (query >> bit) & 1 && bit < 5);
    const matching = members.filter((item) => wanted.every((tag) => item.tags.includes(tag)));
    const answer = manager.order(
      { key: `web@1|${wanted.join(',')}`, service: 'web', instances: matching, members },
      { strategy: 'ring-hash', sessionKey: `u${query}`, limit: 3 },
    );
    t.ok(
      answer.instances.every((item) => matching.includes(item)),
      `filter ${wanted.join(',')}`,
    );
  }
  const tables = manager.cacheStats().builds;
  t.equal(tables, 1, '30 filters, one ring');
});

t.test('a filter over shared tables is consistent: an instance that stops matching moves only its keys', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const members = instances(30).map((item, i) => ({ ...item, tags: i % 3 === 0 ? [] : ['blue'] }));
  const blue = members.filter((item) => item.tags.includes('blue'));
  const before = firsts(manager, { key: 'web@1|blue', service: 'web', instances: blue, members }, 'maglev');
  const changed = rewrite(members, 'web-04', { tags: [] });
  const after = firsts(
    manager,
    {
      key: 'web@2|blue',
      service: 'web',
      instances: changed.filter((item) => item.tags.includes('blue')),
      members: changed,
    },
    'maglev',
  );
  const moved = movement(before, after, { removed: 'web-04' });
  t.ok(moved.fromRemoved > 0);
  t.equal(moved.between, 0);
  t.equal(manager.cacheStats().builds, 1, 'a tag edit is not a membership change');
});

t.test('the ring never exceeds maxRingSize points, whatever the weights', async (t) => {
  const total = (weights: Float64Array, max: number) =>
    pointsPerInstance(weights, 100, 1024, max).reduce((sum, count) => sum + count, 0);
  const heavy = new Float64Array(100).fill(1000);
  t.ok(total(heavy, 65_536) <= 65_536, `100 × weight 1000: ${total(heavy, 65_536)} points`);
  t.ok(total(heavy, 65_536) > 65_536 / 2, 'scaled down by a power of two, not to nothing');
  t.ok(total(heavy, 4096) <= 4096);
  const mixed = new Float64Array([1, 1000, 1000, 1]);
  const counts = pointsPerInstance(mixed, 100, 1024, 4096);
  t.ok(counts[0] >= 1 && counts[3] >= 1, 'every weighted instance keeps a point');
  t.ok(counts[1] / counts[0] > 100, 'weights still set the shares');
  // Through the manager: the ring for 100 × weight 1000 costs what its bound allows.
  const manager = createStrategyManager(
    lbConfig({ ringHash: { pointsPerWeight: 100, minRingSize: 1024, maxRingSize: 8192 } }),
  );
  manager.order(
    { key: 'heavy@1', service: 'heavy', instances: instances(100, { weight: 1000 }) },
    { strategy: 'ring-hash', sessionKey: 'u1' },
  );
  t.ok(manager.cacheStats().bytes < 8192 * 10 + 64 * 1024, `${manager.cacheStats().bytes} bytes cached`);
});

t.test('the cache stays within cacheBytes, dropping the least recently used tables', async (t) => {
  const cacheBytes = 1_048_576;
  const manager = createStrategyManager(lbConfig({ cacheBytes }));
  // 65,537-slot Maglev tables at 2 bytes a slot: 128 KiB each, 20 of them would be 2.5 MiB.
  for (let i = 0; i < 20; i++) {
    const list = instances(10).map((item) => ({ ...item, id: `s${i}-${item.id}` }));
    manager.order({ key: `s${i}@1`, service: `s${i}`, instances: list }, { strategy: 'maglev', sessionKey: 'k' });
    t.ok(manager.cacheStats().bytes <= cacheBytes, `after ${i + 1} services: ${manager.cacheStats().bytes} bytes`);
  }
  t.ok(manager.cacheStats().evictions > 0);
  t.equal(manager.cacheStats().capacityBytes, cacheBytes);
});

t.test('a large table is built in slices after the query, which answers by rendezvous hashing meanwhile', async (t) => {
  const sliceWork = 8192;
  const manager = createStrategyManager(lbConfig({ buildSliceWork: sliceWork }));
  t.teardown(() => manager.close());
  const list: Candidates = { key: 'heavy@1', service: 'heavy', instances: instances(100, { weight: 1000 }) };
  const cold = manager.order(list, { strategy: 'ring-hash', sessionKey: 'u1', limit: 3 });
  t.equal(cold.instances.length, 3);
  t.equal(manager.cacheStats().builds, 0, 'nothing was built on the request path');
  t.equal(manager.cacheStats().builder.pending, 1);
  t.same(
    ids(manager.order(list, { strategy: 'ring-hash', sessionKey: 'u1', limit: 3 }).instances),
    ids(cold.instances),
  );
  t.equal(manager.cacheStats().builder.pending, 1, 'asking again queues nothing more');
  await manager.tablesBuilt();
  const stats = manager.cacheStats();
  t.equal(stats.builds, 1);
  t.ok(stats.builder.slices >= 8, `${stats.builder.slices} slices`);
  t.ok(stats.builder.largestSlice <= sliceWork + TASK_OVERSHOOT, `largest slice ${stats.builder.largestSlice} units`);
  const warm = manager.order(list, { strategy: 'ring-hash', sessionKey: 'u1', limit: 3 });
  t.equal(warm.instances.length, 3);
});

t.test('rendezvous answers follow weights and move only a removed instance keys', async (t) => {
  // A slice too small for any table: every answer here is a rendezvous answer.
  const manager = createStrategyManager(lbConfig({ buildSliceWork: 256 }));
  t.teardown(() => manager.close());
  const list = [1, 2, 3, 4].flatMap((weight) =>
    instances(1, { weight }).map((item) => ({ ...item, id: `w${weight}` })),
  );
  const counts = new Map<string, number>();
  for (const key of keys(10_000)) {
    const first = manager.order(
      { key: 'w@1', service: 'w', instances: list },
      { strategy: 'maglev', sessionKey: key, limit: 1 },
    ).instances[0].id;
    counts.set(first, (counts.get(first) ?? 0) + 1);
  }
  for (const weight of [1, 2, 3, 4]) {
    const share = (counts.get(`w${weight}`) ?? 0) / 10_000;
    t.ok(Math.abs(share / (weight / 10) - 1) <= 0.1, `w${weight}: ${share}`);
  }
  const ten = instances(10);
  const before = firsts(manager, { key: 'r@1', service: 'r', instances: ten }, 'ring-hash');
  const after = firsts(
    manager,
    { key: 'r@2', service: 'r', instances: ten.filter((item) => item.id !== 'web-3') },
    'ring-hash',
  );
  t.equal(movement(before, after, { removed: 'web-3' }).between, 0);
  t.equal(manager.cacheStats().builds, 0, 'no table was built during the test');
});

t.test(
  'while a new membership builds, the previous table serves: a removed instance moves only its keys',
  async (t) => {
    const manager = createStrategyManager(lbConfig({ buildSliceWork: 8192 }));
    t.teardown(() => manager.close());
    const list = instances(40);
    manager.order({ key: 'web@1', service: 'web', instances: list }, { strategy: 'maglev', sessionKey: 'k' });
    await manager.tablesBuilt();
    const before = firsts(manager, { key: 'web@1', service: 'web', instances: list }, 'maglev');
    const smaller = list.filter((item) => item.id !== 'web-12');
    const during = firsts(manager, { key: 'web@2', service: 'web', instances: smaller }, 'maglev');
    t.equal(manager.cacheStats().builder.pending, 1, 'the new table is being built');
    t.equal(movement(before, during, { removed: 'web-12' }).between, 0, 'the old table, minus web-12');
    const added = [...list, ...instances(1).map((item) => ({ ...item, id: 'web-zz' }))];
    const joining = manager.order(
      { key: 'web@3', service: 'web', instances: added },
      { strategy: 'maglev', sessionKey: 'k' },
    );
    t.equal(joining.instances.at(-1)?.id, 'web-zz', 'a newcomer owns no slot of the old table: it comes last');
    await manager.tablesBuilt();
    const settled = manager.order(
      { key: 'web@3', service: 'web', instances: added },
      { strategy: 'maglev', sessionKey: 'k' },
    );
    t.equal(settled.instances.length, added.length);
  },
);

t.test('a ring or a Maglev table built in small slices equals the one built at once', async (t) => {
  const members = instances(30).map((item, i) => ({ ...item, weight: 1 + (i % 5) }));
  const membership = new Membership(members);
  const whole = buildRing(members, membership.weights, 100, 1024);
  const sliced = new RingBuild(membership.ids, membership.weights, 100, 1024, 65_536);
  let turns = 0;
  for (let budget = 0.1; sliced.result === undefined; budget = (budget * 7.3) % 900) {
    sliced.work(budget + 0.05);
    turns++;
  }
  t.ok(turns > 20, `${turns} slices`);
  t.same([...sliced.result.points], [...whole.points]);
  t.same([...sliced.result.owners], [...whole.owners]);
  const table = new MaglevBuild(membership.ids, membership.weights, 4099);
  while (table.result === undefined) table.work(37);
  t.same([...table.result.owners], [...buildMaglevTable(members, membership.weights, 4099).owners]);
});

t.test('builds reuse one work buffer, lent to one build at a time, and build the same tables', async (t) => {
  const scratch = new ScratchBuffer(1 << 20);
  const small = instances(30).map((item, i) => ({ ...item, weight: 1 + (i % 5) }));
  const large = instances(60).map((item, i) => ({ ...item, weight: 1 + (i % 7) }));
  const ringOf = (members: Instance[], into?: ScratchBuffer) => {
    const membership = new Membership(members);
    const build = new RingBuild(membership.ids, membership.weights, 100, 1024, 65_536, into);
    while (build.result === undefined) build.work(500);
    return build.result;
  };
  const maglevOf = (members: Instance[], into?: ScratchBuffer) => {
    const membership = new Membership(members);
    const build = new MaglevBuild(membership.ids, membership.weights, 4099, into);
    while (build.result === undefined) build.work(500);
    return build.result;
  };
  t.equal(scratch.bytes, 0, 'nothing kept before the first build');
  const first = ringOf(large, scratch);
  const kept = scratch.bytes;
  t.ok(kept >= first.points.length * 8, `the first build's work memory is kept (${kept} bytes)`);
  // The kept memory now holds the large ring's points and bucket counts: a smaller build on it
  // must not see them.
  const again = ringOf(small, scratch);
  t.same([...again.points], [...ringOf(small).points], 'a ring on reused memory equals one on fresh memory');
  t.same([...again.owners], [...ringOf(small).owners]);
  t.same([...maglevOf(small, scratch).owners], [...maglevOf(small).owners], 'and so does a Maglev table');
  t.equal(scratch.bytes, kept, 'the smaller builds reused the kept buffer');

  const lent = scratch.take(1000);
  const other = scratch.take(1000);
  t.not(other, lent, 'a buffer out on loan is not lent twice');
  scratch.give(other);
  scratch.give(lent);
  t.equal(scratch.take(1000), lent, 'returned, it is lent again');
  scratch.give(lent);
  const huge = scratch.take(2 << 20);
  scratch.give(huge);
  t.equal(scratch.bytes, kept, 'a buffer over the bound is not kept');
});

t.test('a slice also ends when its time is up, so a slow machine does not make it longer', async (t) => {
  // A build of 1,000,000 units on a machine where each unit takes a microsecond (time here is
  // the work done, not the wall clock): a 100,000-unit slice would hold the loop for 100 ms.
  let spentUnits = 0;
  const total = 1_000_000;
  const task = (): BuildTask<string> => {
    let left = total;
    return {
      work(budget: number): number {
        const used = Math.min(budget, left);
        left -= used;
        spentUnits += used;
        return used;
      },
      get result() {
        return left === 0 ? 'built' : undefined;
      },
    };
  };
  const builder = new TableBuilder(100_000, 4, { sliceTimeMs: 2, now: () => spentUnits / 1000 });
  t.teardown(() => builder.close());
  let built: string | undefined;
  t.equal(
    builder.build('k', 'g', total, task, (value) => (built = value)),
    undefined,
    'too big to build inline',
  );
  await builder.idle();
  t.equal(built, 'built');
  const stats = builder.stats();
  t.ok(stats.largestSlice <= 2000 + TIME_CHECK_UNITS, `largest slice ${stats.largestSlice} units (2 ms worth: 2,000)`);
  t.equal(stats.timeBoundSlices, stats.slices - 1, 'every slice but the last ended on time');
  t.ok(stats.slices >= total / (2000 + TIME_CHECK_UNITS), `${stats.slices} slices`);
});

/** A UDP socket bound on loopback, closed in teardown. */
async function boundSocket(t: Test): Promise<Socket> {
  const socket = createSocket('udp4');
  t.teardown(() => socket.close());
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

t.test(
  'a build queued while a request is answered starts only after the I/O that arrived meanwhile is read',
  async (t) => {
    // The request is a datagram read in the poll phase. While its handler runs (and queues a
    // build), a second datagram arrives for another socket: a DNS query waiting behind the
    // request. Its read must come before the build's first slice, not after it: the request and a
    // slice would otherwise hold the loop back to back.
    const [request, waiting, sender] = await Promise.all([boundSocket(t), boundSocket(t), boundSocket(t)]);
    const builder = new TableBuilder(1024, 4);
    t.teardown(() => builder.close());
    const order: string[] = [];
    const task = (): BuildTask<string> => {
      order.push('first slice');
      return { work: () => 1024, result: 'built' };
    };
    request.once('message', () => {
      t.equal(
        builder.build('k', 'g', 1024 * 8, task, () => {}),
        undefined,
        'too big to build inline: queued',
      );
      // On loopback the datagram is in the other socket's buffer before this poll phase ends
      // (the send runs in a nextTick after this handler), so it is read in the next one.
      sender.send('query', waiting.address().port, '127.0.0.1');
    });
    waiting.once('message', () => order.push('waiting I/O read'));
    sender.send('request', request.address().port, '127.0.0.1');
    await once(waiting, 'message');
    await builder.idle();
    t.same(order, ['waiting I/O read', 'first slice']);
  },
);

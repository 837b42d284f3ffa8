import t from 'tap';
import { createStrategyManager } from '../src/lb/manager.js';
import { buildRing, MAX_RING_SIZE, pointsPerInstance, ringSlot } from '../src/lb/ring.js';
import type { LbConfig } from '../src/lb/types.js';
import { effectiveWeights } from '../src/lb/weights.js';
import type { Instance } from '../src/catalog/types.js';
import {
  candidates,
  countBy,
  firstChoices,
  ids,
  instance,
  instances,
  keys,
  lbConfig,
  movement,
} from './helpers/lb-fixtures.js';

const KEYS = keys(10_000);

function ringOrder(config: LbConfig = lbConfig()) {
  const manager = createStrategyManager(config);
  // One candidates key per list content, as the catalog guarantees.
  return (list: readonly Instance[], sessionKey: string, limit = 1) =>
    manager.order(candidates(list), { strategy: 'ring-hash', sessionKey, limit }).instances;
}

t.test('the same session key always maps to the same instance and the same fallback order', async (t) => {
  const order = ringOrder();
  const list = instances(10);
  for (const key of KEYS.slice(0, 200)) t.same(ids(order(list, key, 0)), ids(order(list, key, 0)), key);
  t.same(
    ids(
      createStrategyManager(lbConfig()).order(candidates(list, 'other@1'), {
        strategy: 'ring-hash',
        sessionKey: 'user-1',
      }).instances,
    ),
    ids(order(list, 'user-1', 0)),
    'another manager agrees',
  );
});

t.test('10,000 keys spread over 10 instances with max/mean ≤ 1.3', async (t) => {
  const counts = countBy(firstChoices(ringOrder(), instances(10), KEYS));
  t.equal(counts.size, 10);
  const ratio = Math.max(...counts.values()) / 1000;
  t.ok(ratio <= 1.3, `max/mean ${ratio}`);
});

t.test('removing one of 10 instances moves only the keys that were on it', async (t) => {
  const order = ringOrder();
  const list = instances(10);
  const before = firstChoices(order, list, KEYS);
  const after = firstChoices(
    order,
    list.filter((i) => i.id !== 'web-3'),
    KEYS,
  );
  const moved = movement(before, after, { removed: 'web-3' });
  t.equal(moved.between, 0, 'no key moves between surviving instances');
  t.equal(moved.fromRemoved, before.filter((id) => id === 'web-3').length, 'every key of the removed instance moves');
});

t.test('adding an instance takes about 1/(n+1) of the keys, only from the others', async (t) => {
  const order = ringOrder();
  // 20 → 21 instances: both rings are above minRingSize, so no instance's point count changes.
  const list = instances(20);
  // "aaa" sorts first: every other instance's list position shifts, and must not matter.
  const before = firstChoices(order, list, KEYS);
  const after = firstChoices(order, [instance({ id: 'aaa' }), ...list], KEYS);
  const moved = movement(before, after, { added: 'aaa' });
  t.equal(moved.between, 0, 'no key moves between two old instances');
  const expected = KEYS.length / 21;
  t.ok(
    Math.abs(moved.toAdded - expected) <= 0.3 * expected,
    `new instance took ${moved.toAdded}, expected ${expected.toFixed(0)} ± 30 %`,
  );
});

t.test('the ring scale is a power of two, so a small service keeps its point counts across most changes', async (t) => {
  const weights = (n: number) => new Float64Array(n).fill(1);
  // Defaults: 100 points per weight, minRingSize 1024. 6..10 instances need scale 2, 11+ need none.
  t.same([...new Set(pointsPerInstance(weights(10), 100, 1024))], [200]);
  t.same([...new Set(pointsPerInstance(weights(6), 100, 1024))], [200]);
  t.same([...new Set(pointsPerInstance(weights(11), 100, 1024))], [100]);
  t.same([...new Set(pointsPerInstance(weights(5), 100, 1024))], [400]);
  t.same(
    [...pointsPerInstance(new Float64Array([0.5, 1]), 100, 1)],
    [100, 200],
    'the lightest instance gets at least 100 points',
  );
  t.same(
    [...pointsPerInstance(new Float64Array([0, 1]), 100, 1024)],
    [0, 1600],
    'zero weight, no points; 1024/100 rounds up to scale 16',
  );
  let total = 0;
  for (const count of pointsPerInstance(new Float64Array(1000).fill(1000), 100, 1024)) total += count;
  t.ok(total <= MAX_RING_SIZE * 1.001, `ring capped at ${MAX_RING_SIZE}: ${total}`);
});

t.test('shares follow weights 1, 2, 3, 4 within 10 %', async (t) => {
  // 1,000 points per weight unit: a ring's share error shrinks as 1/√points.
  const order = ringOrder(lbConfig({ ringHash: { pointsPerWeight: 1000, minRingSize: 1024, maxRingSize: 65536 } }));
  const list = [1, 2, 3, 4].map((weight) => instance({ id: `w${weight}`, weight }));
  const counts = countBy(firstChoices(order, list, KEYS));
  for (const weight of [1, 2, 3, 4]) {
    const share = (counts.get(`w${weight}`) ?? 0) / KEYS.length;
    const expected = weight / 10;
    t.ok(Math.abs(share / expected - 1) <= 0.1, `w${weight}: ${share} vs ${expected}`);
  }
});

t.test('with the default config each instance owns its weight share of the ring circle within 10 %', async (t) => {
  const list = [1, 2, 3, 4].map((weight) => instance({ id: `w${weight}`, weight }));
  const ring = buildRing(list, effectiveWeights(list).values, 100, 1024);
  const circle = 2 ** 53;
  const shares = [0, 0, 0, 0];
  // A point owns the arc from the previous point up to itself (keys map to the next point clockwise).
  for (let j = 0; j < ring.points.length; j++) {
    const previous = j === 0 ? ring.points[ring.points.length - 1] - circle : ring.points[j - 1];
    shares[ring.owners[j]] += (ring.points[j] - previous) / circle;
  }
  t.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-9, 'arcs cover the circle');
  shares.forEach((share, i) => t.ok(Math.abs(share / ((i + 1) / 10) - 1) <= 0.1, `w${i + 1}: ${share.toFixed(4)}`));
});

t.test('the fallback order walks the ring clockwise and covers every instance once', async (t) => {
  const list = instances(6);
  const ring = buildRing(list, effectiveWeights(list).values, 100, 1024);
  for (let j = 1; j < ring.points.length; j++) t.ok(ring.points[j - 1] <= ring.points[j], 'points sorted');
  const order = ringOrder();
  for (const key of KEYS.slice(0, 50)) t.same(ids(order(list, key, 0)).sort(), ids(list), key);
});

t.test('a key past the last point wraps to the first point', async (t) => {
  const list = instances(3);
  const ring = buildRing(list, effectiveWeights(list).values, 100, 1024);
  t.equal(ringSlot(ring, 2 ** 53 - 1), 0);
  t.equal(ringSlot(ring, 0), 0);
  t.equal(ring.owners[ringSlot(ring, ring.points[5])], ring.owners[5]);
});

t.test('zero-weight instances own no points and only appear at the end', async (t) => {
  const order = ringOrder();
  const list = [instance({ id: 'a', weight: 0 }), instance({ id: 'b' }), instance({ id: 'c' })];
  for (const key of KEYS.slice(0, 100)) t.equal(ids(order(list, key, 0)).at(-1), 'a', key);
});

t.test('the ring is built once per candidates key', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(instances(50), 'web@3');
  manager.order(list, { strategy: 'ring-hash', sessionKey: 'k' });
  const builds = manager.cacheStats().builds;
  for (const key of KEYS.slice(0, 500)) manager.order(list, { strategy: 'ring-hash', sessionKey: key, limit: 3 });
  t.equal(manager.cacheStats().builds, builds);
});

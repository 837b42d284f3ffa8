import t from 'tap';
import { createStrategyManager } from '../src/lb/manager.js';
import { createSeededRandom } from '../src/lb/seeded-random.js';
import { candidates, countBy, ids, instance, instances, lbConfig } from './helpers/lb-fixtures.js';

t.test('of two instances the less loaded always goes first', async (t) => {
  const manager = createStrategyManager(lbConfig(), { random: createSeededRandom(1) });
  const list = candidates(instances(2), 'web@1');
  manager.reportLoad('web-0', { connections: 8 });
  manager.reportLoad('web-1', { connections: 3 });
  for (let q = 0; q < 50; q++) t.same(ids(manager.order(list, { strategy: 'p2c' }).instances), ['web-1', 'web-0']);
});

t.test('the most loaded instance is never first and the idle one is first twice as often as uniform', async (t) => {
  const manager = createStrategyManager(lbConfig(), { random: createSeededRandom(2) });
  const list = candidates(instances(10), 'web@1');
  for (let i = 0; i < 10; i++) manager.reportLoad(`web-${i}`, { connections: 10 + i });
  manager.reportLoad('web-3', { connections: 0 });
  const firsts = countBy(
    Array.from({ length: 10_000 }, () => manager.order(list, { strategy: 'p2c', limit: 3 }).instances[0].id),
  );
  t.equal(firsts.get('web-9'), undefined, 'the most loaded loses every comparison');
  // web-3 is first whenever it is one of the two drawn: 1 − (9/10 · 8/9) = 0.2 (uniform would be 0.1).
  const share = (firsts.get('web-3') ?? 0) / 10_000;
  t.ok(Math.abs(share - 0.2) < 0.02, `idle instance first ${share}`);
});

t.test('load is compared per unit of weight', async (t) => {
  const manager = createStrategyManager(lbConfig(), { random: createSeededRandom(3) });
  const list = candidates([instance({ id: 'big', weight: 10 }), instance({ id: 'small', weight: 1 })], 'web@1');
  manager.reportLoad('big', { connections: 10 });
  manager.reportLoad('small', { connections: 2 });
  t.equal(manager.order(list, { strategy: 'p2c', limit: 1 }).instances[0].id, 'big', '10/10 = 1 beats 2/1 = 2');
});

t.test('every later position is another two-choice draw among the rest', async (t) => {
  const manager = createStrategyManager(lbConfig(), { random: createSeededRandom(4) });
  const list = candidates(instances(3), 'web@1');
  manager.reportLoad('web-0', { connections: 1 });
  manager.reportLoad('web-1', { connections: 2 });
  manager.reportLoad('web-2', { connections: 3 });
  // The first draw takes two of the three, so the most loaded is never first; the last
  // two remaining form the second draw, so they always come in ascending load.
  const seen = new Set<string>();
  for (let q = 0; q < 100; q++) {
    const order = ids(manager.order(list, { strategy: 'p2c' }).instances);
    seen.add(order.join());
    t.not(order[0], 'web-2');
    t.ok(order[1] < order[2], order.join());
  }
  t.same([...seen].sort(), ['web-0,web-1,web-2', 'web-1,web-0,web-2'], 'both possible orders occur');
});

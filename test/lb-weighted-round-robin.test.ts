import t from 'tap';
import { createStrategyManager } from '../src/lb/manager.js';
import { candidates, countBy, ids, instance, lbConfig } from './helpers/lb-fixtures.js';

const abc = (b = 1) => [
  instance({ id: 'a', weight: 5 }),
  instance({ id: 'b', weight: b }),
  instance({ id: 'c', weight: 1 }),
];

t.test('weights 5, 1, 1 put a, a, b, a, c, a, a first — nginx smooth weighted round-robin', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(abc(), 'web@1');
  const firsts = Array.from(
    { length: 14 },
    () => manager.order(list, { strategy: 'weighted-round-robin', limit: 1 }).instances[0].id,
  );
  t.same(firsts, ['a', 'a', 'b', 'a', 'c', 'a', 'a', 'a', 'a', 'b', 'a', 'c', 'a', 'a']);
});

t.test('over many cycles each instance is first in proportion to its weight', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(
    [
      instance({ id: 'a', weight: 3 }),
      instance({ id: 'b', weight: 2 }),
      instance({ id: 'c', weight: 7 }),
      instance({ id: 'd', weight: 1 }),
    ],
    'web@1',
  );
  const firsts = Array.from(
    { length: 13 * 20 },
    () => manager.order(list, { strategy: 'weighted-round-robin', limit: 1 }).instances[0].id,
  );
  t.same(Object.fromEntries(countBy(firsts)), { a: 60, b: 40, c: 140, d: 20 });
});

t.test('the state starts afresh when weights change (a new candidates key)', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const first = (key: string, b: number) =>
    manager.order(candidates(abc(b), key), { strategy: 'weighted-round-robin', limit: 1 }).instances[0].id;
  t.same([first('web@1', 1), first('web@1', 1), first('web@1', 1)], ['a', 'a', 'b']);
  // b now weighs 5 as well: a fresh SWRR over 5, 5, 1 starts with a, b, a, b, ...
  t.same([first('web@2', 5), first('web@2', 5), first('web@2', 5), first('web@2', 5)], ['a', 'b', 'a', 'b']);
});

t.test('after the winner the rest follow by descending current weight', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(abc(), 'web@1');
  // Query 1: current weights become a 5-7=-2, b 1, c 1 → a, then b and c (tied, b first by id).
  t.same(ids(manager.order(list, { strategy: 'weighted-round-robin' }).instances), ['a', 'b', 'c']);
  // Query 2: a 3-7=-4, b 2, c 2 → a, b, c. Query 3: a 1, b 3-7=-4, c 3 → b, c, a.
  t.same(ids(manager.order(list, { strategy: 'weighted-round-robin' }).instances), ['a', 'b', 'c']);
  t.same(ids(manager.order(list, { strategy: 'weighted-round-robin' }).instances), ['b', 'c', 'a']);
});

t.test('a zero-weight instance is never first but still ends the full order', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(
    [instance({ id: 'a', weight: 0 }), instance({ id: 'b', weight: 1 }), instance({ id: 'c', weight: 2 })],
    'web@1',
  );
  for (let i = 0; i < 9; i++)
    t.equal(ids(manager.order(list, { strategy: 'weighted-round-robin' }).instances).at(-1), 'a');
});

t.test('when every weight is zero the instances share equally', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates([instance({ id: 'a', weight: 0 }), instance({ id: 'b', weight: 0 })], 'web@1');
  const firsts = Array.from(
    { length: 4 },
    () => manager.order(list, { strategy: 'weighted-round-robin', limit: 1 }).instances[0].id,
  );
  t.same(firsts, ['a', 'b', 'a', 'b']);
});

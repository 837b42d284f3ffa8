import t from 'tap';
import { createStrategyManager } from '../src/lb/manager.js';
import { candidates, countBy, ids, instances, lbConfig } from './helpers/lb-fixtures.js';

t.test('over k·n queries each instance is first exactly k times', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(instances(7), 'web@1');
  const firsts = Array.from(
    { length: 5 * 7 },
    () => manager.order(list, { strategy: 'round-robin', limit: 1 }).instances[0].id,
  );
  t.same([...countBy(firsts).values()], [5, 5, 5, 5, 5, 5, 5]);
});

t.test('each query starts one instance further along the base order, wrapping around', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(instances(4), 'web@1');
  const orders = Array.from({ length: 5 }, () =>
    ids(manager.order(list, { strategy: 'round-robin' }).instances).join(' '),
  );
  t.same(orders, [
    'web-0 web-1 web-2 web-3',
    'web-1 web-2 web-3 web-0',
    'web-2 web-3 web-0 web-1',
    'web-3 web-0 web-1 web-2',
    'web-0 web-1 web-2 web-3',
  ]);
});

t.test('a limit returns the next k instances of the rotation', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(instances(4), 'web@1');
  manager.order(list, { strategy: 'round-robin' });
  manager.order(list, { strategy: 'round-robin' });
  manager.order(list, { strategy: 'round-robin' });
  t.same(ids(manager.order(list, { strategy: 'round-robin', limit: 3 }).instances), ['web-3', 'web-0', 'web-1']);
});

t.test('the rotation survives a catalog index change and is separate per filter', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = instances(3);
  const first = (key: string) =>
    manager.order(candidates(list, key), { strategy: 'round-robin', limit: 1 }).instances[0].id;
  t.equal(first('web@1|tag=v1'), 'web-0');
  t.equal(first('web@1|tag=v1'), 'web-1');
  t.equal(
    first('web@2|tag=v1'),
    'web-2',
    'a new index continues the rotation instead of restarting at the first instance',
  );
  t.equal(first('web@2|tag=v2'), 'web-0', 'another filter has its own counter');
  t.equal(first('api@2|tag=v1'), 'web-0', 'another service has its own counter');
});

t.test('other strategies on the same list do not move the round-robin counter', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(instances(3), 'web@1');
  t.equal(manager.order(list, { strategy: 'round-robin', limit: 1 }).instances[0].id, 'web-0');
  manager.order(list, { strategy: 'least-connections' });
  manager.order(list, { strategy: 'least-connections' });
  t.equal(manager.order(list, { strategy: 'round-robin', limit: 1 }).instances[0].id, 'web-1');
});

import t from 'tap';
import { createStrategyManager } from '../src/lb/manager.js';
import { candidates, countBy, ids, instances, lbConfig } from './helpers/lb-fixtures.js';

t.test('instances are ordered by ascending reported connections', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(instances(4), 'web@1');
  manager.reportLoad('web-0', { connections: 9 });
  manager.reportLoad('web-1', { connections: 2 });
  manager.reportLoad('web-2', { connections: 5 });
  manager.reportLoad('web-3', { connections: 0 });
  t.same(ids(manager.order(list, { strategy: 'least-connections' }).instances), ['web-3', 'web-1', 'web-2', 'web-0']);
  manager.reportLoad('web-3', { connections: 7 });
  t.same(
    ids(manager.order(list, { strategy: 'least-connections', limit: 2 }).instances),
    ['web-1', 'web-2'],
    'a new report is seen by the cached list',
  );
});

t.test('ties rotate from query to query so a burst spreads over the least loaded', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(instances(4), 'web@1');
  manager.reportLoad('web-2', { connections: 3 });
  const orders = Array.from({ length: 6 }, () => ids(manager.order(list, { strategy: 'least-connections' }).instances));
  t.same(Object.fromEntries(countBy(orders.map((order) => order[0]))), { 'web-0': 2, 'web-1': 2, 'web-3': 2 });
  for (const order of orders) t.equal(order.at(-1), 'web-2', 'the loaded instance stays last');
  t.same(orders[0], ['web-0', 'web-1', 'web-3', 'web-2']);
  t.same(orders[1], ['web-1', 'web-3', 'web-0', 'web-2']);
});

t.test('weight does not change the order; only connections count', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(
    instances(2).map((item, i) => ({ ...item, weight: i === 0 ? 100 : 1 })),
    'web@1',
  );
  manager.reportLoad('web-0', { connections: 10 });
  manager.reportLoad('web-1', { connections: 1 });
  t.equal(manager.order(list, { strategy: 'least-connections', limit: 1 }).instances[0].id, 'web-1');
});

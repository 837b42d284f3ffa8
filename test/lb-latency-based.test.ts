import t from 'tap';
import { createStrategyManager } from '../src/lb/manager.js';
import { candidates, ids, instance, lbConfig } from './helpers/lb-fixtures.js';

const config = lbConfig({ latency: { 'eu-west': { 'eu-west': 1, 'eu-central': 12, 'us-east': 80 } } });
const list = candidates(
  [
    instance({ id: 'a-us', region: 'us-east' }),
    instance({ id: 'b-ap', region: 'ap-south' }),
    instance({ id: 'c-eu', region: 'eu-central' }),
    instance({ id: 'd-none', region: null }),
    instance({ id: 'e-eu', region: 'eu-west' }),
    instance({ id: 'f-eu', region: 'eu-west' }),
  ],
  'web@1',
);

t.test('instances are ordered by configured latency from the client region, unknown pairs last by id', async (t) => {
  const manager = createStrategyManager(config);
  t.same(ids(manager.order(list, { strategy: 'latency-based', clientRegion: 'eu-west' }).instances), [
    'e-eu',
    'f-eu',
    'c-eu',
    'a-us',
    'b-ap',
    'd-none',
  ]);
  t.same(ids(manager.order(list, { strategy: 'latency-based', clientRegion: 'eu-west', limit: 2 }).instances), [
    'e-eu',
    'f-eu',
  ]);
});

t.test('reported latency (EWMA) breaks ties between equally configured instances and among unknown ones', async (t) => {
  const manager = createStrategyManager(config);
  manager.reportLoad('e-eu', { latencyMs: 10 });
  manager.reportLoad('e-eu', { latencyMs: 30 }); // EWMA 0.3·30 + 0.7·10 = 16
  manager.reportLoad('f-eu', { latencyMs: 15 });
  manager.reportLoad('d-none', { latencyMs: 3 });
  t.same(ids(manager.order(list, { strategy: 'latency-based', clientRegion: 'eu-west' }).instances), [
    'f-eu',
    'e-eu',
    'c-eu',
    'a-us',
    'd-none',
    'b-ap',
  ]);
});

t.test(
  'without a client region (or an unknown one) reported latency orders alone, instances without data last',
  async (t) => {
    const manager = createStrategyManager(config);
    manager.reportLoad('a-us', { latencyMs: 40 });
    manager.reportLoad('c-eu', { latencyMs: 5 });
    manager.reportLoad('b-ap', { latencyMs: 20 });
    const expected = ['c-eu', 'b-ap', 'a-us', 'd-none', 'e-eu', 'f-eu'];
    t.same(ids(manager.order(list, { strategy: 'latency-based' }).instances), expected);
    t.same(ids(manager.order(list, { strategy: 'latency-based', clientRegion: 'mars' }).instances), expected);
    t.same(
      ids(manager.order(list, { strategy: 'latency-based', clientRegion: '__proto__' }).instances),
      expected,
      'inherited object keys are not regions',
    );
  },
);

t.test('with no data at all the order is by id', async (t) => {
  const manager = createStrategyManager(config);
  t.same(ids(manager.order(list, { strategy: 'latency-based' }).instances), [
    'a-us',
    'b-ap',
    'c-eu',
    'd-none',
    'e-eu',
    'f-eu',
  ]);
});

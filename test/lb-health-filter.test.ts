import t from 'tap';
import { healthMode, selectHealthy } from '../src/lb/health-filter.js';
import { instance } from './helpers/lb-fixtures.js';

const list = [
  instance({ id: 'a' }),
  instance({ id: 'b', status: 'warning' }),
  instance({ id: 'c', status: 'critical' }),
];

t.test('the mode is 1 by default, 0 when the filter is off and 2 for passing only', async (t) => {
  t.equal(healthMode(undefined, undefined), 1);
  t.equal(healthMode(false, undefined), 0);
  t.equal(healthMode(true, true), 2);
  t.equal(healthMode(false, true), 2);
});

t.test('an all-healthy list is returned as is, without a copy', async (t) => {
  const healthy = [instance({ id: 'a' })];
  t.equal(selectHealthy(healthy, 1, 0).instances, healthy);
});

t.test('the panic threshold compares the healthy percentage, strictly below', async (t) => {
  t.same(selectHealthy(list, 2, 34), { instances: list, filtered: 0, held: 0, panic: true });
  t.equal(selectHealthy(list, 2, 33).panic, false);
  t.equal(selectHealthy(list, 1, 66).panic, false, '2 of 3 = 66.7 % is not below 66');
  t.equal(selectHealthy([], 1, 50).panic, false);
});

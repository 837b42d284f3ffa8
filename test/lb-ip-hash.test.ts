import t from 'tap';
import type { Instance } from '../src/catalog/types.js';
import { createStrategyManager } from '../src/lb/manager.js';
import {
  candidates,
  countBy,
  firstChoices,
  ids,
  instance,
  instances,
  lbConfig,
  movement,
} from './helpers/lb-fixtures.js';

const ADDRESSES = Array.from({ length: 10_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);

function ipOrder() {
  const manager = createStrategyManager(lbConfig());
  return (list: readonly Instance[], clientIp: string, limit = 1) =>
    manager.order(candidates(list), { strategy: 'ip-hash', clientIp, limit }).instances;
}

t.test('the same client address always gets the same order', async (t) => {
  const order = ipOrder();
  const list = instances(10);
  for (const address of [...ADDRESSES.slice(0, 100), '2001:db8::1', '::1'])
    t.same(ids(order(list, address, 0)), ids(order(list, address, 0)), address);
});

t.test('10,000 addresses spread over 10 instances with max/mean ≤ 1.3', async (t) => {
  const counts = countBy(firstChoices(ipOrder(), instances(10), ADDRESSES));
  t.equal(counts.size, 10);
  t.ok(Math.max(...counts.values()) / 1000 <= 1.3);
});

t.test('removing one of 10 instances moves only the clients that were on it', async (t) => {
  const order = ipOrder();
  const list = instances(10);
  const before = firstChoices(order, list, ADDRESSES);
  const after = firstChoices(
    order,
    list.filter((i) => i.id !== 'web-7'),
    ADDRESSES,
  );
  const moved = movement(before, after, { removed: 'web-7' });
  t.equal(moved.between, 0);
  t.equal(moved.fromRemoved, before.filter((id) => id === 'web-7').length);
});

t.test('adding an instance takes about 1/(n+1) of the clients, only from the others', async (t) => {
  const order = ipOrder();
  const list = instances(20);
  const before = firstChoices(order, list, ADDRESSES);
  const after = firstChoices(order, [...list, instance({ id: 'web-zz' })], ADDRESSES);
  const moved = movement(before, after, { added: 'web-zz' });
  t.equal(moved.between, 0);
  t.ok(Math.abs(moved.toAdded - 10_000 / 21) <= 0.3 * (10_000 / 21), `took ${moved.toAdded}`);
});

t.test('ip-hash places the address on the same ring ring-hash uses', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(instances(10), 'web@1');
  for (const address of ADDRESSES.slice(0, 100)) {
    t.same(
      ids(manager.order(list, { strategy: 'ip-hash', clientIp: address }).instances),
      ids(manager.order(list, { strategy: 'ring-hash', sessionKey: address }).instances),
    );
  }
  manager.order(list, { strategy: 'ip-hash', clientIp: '10.0.0.1' });
  t.equal(
    manager.cacheStats().builds,
    1,
    'one ring for both strategies (it reads the membership weights, no weights array)',
  );
});

t.test('without a client address the base order is returned', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(instances(5), 'web@1');
  t.same(ids(manager.order(list, { strategy: 'ip-hash' }).instances), ids(instances(5)));
  t.same(ids(manager.order(list, { strategy: 'ip-hash', limit: 2 }).instances), ['web-0', 'web-1']);
});

import t from 'tap';
import { ListCache, rotationKey } from '../src/lb/list-cache.js';

t.test('the rotation key is the candidates key without its catalog index', async (t) => {
  t.equal(rotationKey('web@42|tag=v2'), 'web|tag=v2');
  t.equal(rotationKey('web@42'), 'web');
  t.equal(rotationKey('*@7|meta=a:b'), '*|meta=a:b');
  t.equal(rotationKey('plain'), 'plain');
  t.equal(rotationKey('odd@x'), 'odd@x');
});

t.test('entries are kept per key and evicted least recently used first', async (t) => {
  const cache = new ListCache(2);
  const a = cache.entry('a@1', 3);
  cache.entry('b@1', 3);
  t.equal(cache.entry('a@1', 3), a, 'a hit returns the same entry');
  cache.entry('c@1', 3);
  t.same(cache.stats(), { size: 2, capacity: 2, builds: 0, evictions: 1 });
  t.equal(cache.entry('a@1', 3), a, 'a was used more recently than b and survived');
});

t.test('a key seen with a different list length gets a fresh entry', async (t) => {
  const cache = new ListCache(4);
  const first = cache.entry('a@1', 3);
  t.not(cache.entry('a@1', 4), first);
});

t.test('a new index of the same service and filter shares the rotation counter', async (t) => {
  const cache = new ListCache(4);
  t.equal(cache.entry('web@1|x', 3).rotation, cache.entry('web@2|x', 5).rotation);
  t.not(cache.entry('web@1|x', 3).rotation, cache.entry('web@1|y', 3).rotation);
});

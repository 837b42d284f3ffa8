import t from 'tap';
import { createSeededRandom } from '../src/lb/seeded-random.js';
import { Ranker } from '../src/lb/ranking.js';

t.test('rank returns the first k indices by (primary, secondary, index) for every k', async (t) => {
  const ranker = new Ranker();
  const random = createSeededRandom(3);
  let mismatches = 0;
  for (let trial = 0; trial < 2000; trial++) {
    const n = 1 + Math.floor(random() * 200);
    ranker.prepare(n);
    for (let i = 0; i < n; i++) {
      ranker.primary[i] = random() < 0.2 ? Infinity : Math.floor(random() * 5);
      ranker.secondary[i] = random() < 0.3 ? Infinity : Math.floor(random() * 4);
    }
    const key = (i: number) => [ranker.primary[i], ranker.secondary[i], i];
    const reference = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
      const [pa, sa] = key(a);
      const [pb, sb] = key(b);
      if (pa !== pb) return pa < pb ? -1 : 1;
      if (sa !== sb) return sa < sb ? -1 : 1;
      return a - b;
    });
    const limit = 1 + Math.floor(random() * n);
    if (Array.from(ranker.rank(n, limit)).join() !== reference.slice(0, limit).join()) mismatches++;
  }
  t.equal(mismatches, 0);
});

t.test('sorted and reversed inputs are ranked correctly', async (t) => {
  const ranker = new Ranker();
  ranker.prepare(1000);
  for (let i = 0; i < 1000; i++) {
    ranker.primary[i] = 1000 - i;
    ranker.secondary[i] = 0;
  }
  t.same(Array.from(ranker.rank(1000, 1000)).slice(0, 3), [999, 998, 997]);
  for (let i = 0; i < 1000; i++) ranker.primary[i] = i;
  t.same(Array.from(ranker.rank(1000, 20)).slice(-2), [18, 19]);
});

import t from 'tap';
import { createSeededRandom } from '../src/lb/seeded-random.js';
import { UniqueSampler } from '../src/lb/sampling.js';

t.test('draws never repeat an index, in both rejection and pool modes', async (t) => {
  const sampler = new UniqueSampler();
  const random = createSeededRandom(1);
  for (const [n, picks] of [
    [100, 3],
    [10, 10],
    [7, 2],
    [1, 1],
  ]) {
    for (let trial = 0; trial < 50; trial++) {
      sampler.begin(n, picks);
      const taken = new Set<number>();
      for (let p = 0; p < picks; p++) {
        const first = sampler.draw(random);
        if (sampler.remaining > 1) t.not(sampler.drawOther(random, first), first);
        sampler.take(first);
        taken.add(first);
      }
      t.equal(taken.size, picks, `n ${n}, picks ${picks}`);
    }
  }
});

t.test('createSeededRandom is reproducible and stays in [0, 1)', async (t) => {
  const a = createSeededRandom(42);
  const b = createSeededRandom(42);
  let sum = 0;
  for (let i = 0; i < 10_000; i++) {
    const value = a();
    t.equal(value, b());
    if (!(value >= 0 && value < 1)) t.fail(`out of range: ${value}`);
    sum += value;
  }
  t.ok(Math.abs(sum / 10_000 - 0.5) < 0.01, 'mean near 1/2');
  t.not(createSeededRandom(1)(), createSeededRandom(2)());
});

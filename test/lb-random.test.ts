import t from 'tap';
import { createStrategyManager } from '../src/lb/manager.js';
import { createSeededRandom } from '../src/lb/seeded-random.js';
import { candidates, chiSquare, instances, lbConfig } from './helpers/lb-fixtures.js';

// Chi-square critical values at p = 0.01: 9 degrees of freedom → 21.666, 19 → 36.191.
const CRITICAL_9 = 21.666;
const CRITICAL_19 = 36.191;

function positionCounts(n: number, queries: number, limit: number, position: number, seed: number): number[] {
  const manager = createStrategyManager(lbConfig(), { random: createSeededRandom(seed) });
  const list = candidates(instances(n), 'web@1');
  const counts = new Array<number>(n).fill(0);
  for (let q = 0; q < queries; q++) {
    const chosen = manager.order(list, { strategy: 'random', limit }).instances[position];
    counts[Number(chosen.id.slice(4))]++;
  }
  return counts;
}

t.test('the first position is uniform over 10 instances (chi-square, p = 0.01, seed 1)', async (t) => {
  const counts = positionCounts(10, 20_000, 0, 0, 1);
  const statistic = chiSquare(counts, new Array<number>(10).fill(2000));
  t.ok(statistic < CRITICAL_9, `chi-square ${statistic.toFixed(2)} < ${CRITICAL_9}`);
});

t.test(
  'with a small limit (rejection sampling) the first and last positions are uniform over 20 instances',
  async (t) => {
    for (const position of [0, 2]) {
      const counts = positionCounts(20, 20_000, 3, position, 2);
      const statistic = chiSquare(counts, new Array<number>(20).fill(1000));
      t.ok(statistic < CRITICAL_19, `position ${position}: chi-square ${statistic.toFixed(2)} < ${CRITICAL_19}`);
    }
  },
);

t.test('the last position of a full shuffle is uniform too', async (t) => {
  const counts = positionCounts(10, 20_000, 0, 9, 3);
  const statistic = chiSquare(counts, new Array<number>(10).fill(2000));
  t.ok(statistic < CRITICAL_9, `chi-square ${statistic.toFixed(2)} < ${CRITICAL_9}`);
});

t.test('the same seed gives the same orders', async (t) => {
  const orders = (seed: number) => {
    const manager = createStrategyManager(lbConfig(), { random: createSeededRandom(seed) });
    return Array.from({ length: 5 }, () =>
      manager
        .order(candidates(instances(8), 'web@1'), { strategy: 'random' })
        .instances.map((i) => i.id)
        .join(),
    );
  };
  t.same(orders(11), orders(11));
  t.not(orders(11).join('|'), orders(12).join('|'));
});

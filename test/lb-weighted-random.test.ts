import t from 'tap';
import { createStrategyManager } from '../src/lb/manager.js';
import { createSeededRandom } from '../src/lb/seeded-random.js';
import { candidates, chiSquare, ids, instance, lbConfig } from './helpers/lb-fixtures.js';

// Chi-square critical value at p = 0.01 with 3 degrees of freedom.
const CRITICAL_3 = 11.345;
const WEIGHTS = [1, 2, 3, 4];
const QUERIES = 20_000;
const list = candidates(
  WEIGHTS.map((weight, i) => instance({ id: `w${i}`, weight })),
  'web@1',
);

function counts(limit: number, position: number, seed: number): number[] {
  const manager = createStrategyManager(lbConfig(), { random: createSeededRandom(seed) });
  const result = new Array<number>(WEIGHTS.length).fill(0);
  for (let q = 0; q < QUERIES; q++)
    result[Number(manager.order(list, { strategy: 'weighted-random', limit }).instances[position].id.slice(1))]++;
  return result;
}

/** P(instance j is second) when drawing without replacement: Σ_{i≠j} w_i/W · w_j/(W − w_i). */
function secondPositionShares(weights: number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((wj, j) =>
    weights.reduce((sum, wi, i) => (i === j ? sum : sum + (wi / total) * (wj / (total - wi))), 0),
  );
}

t.test('the first position follows the weights, limit 1 (cumulative draw; chi-square, p = 0.01, seed 5)', async (t) => {
  const statistic = chiSquare(
    counts(1, 0, 5),
    WEIGHTS.map((w) => (QUERIES * w) / 10),
  );
  t.ok(statistic < CRITICAL_3, `chi-square ${statistic.toFixed(2)} < ${CRITICAL_3}`);
});

t.test('the first position follows the weights in a full order (Efraimidis–Spirakis keys; seed 6)', async (t) => {
  const manager = createStrategyManager(lbConfig(), { random: createSeededRandom(6) });
  const many = candidates(
    Array.from({ length: 12 }, (_, i) => instance({ id: `w${String(i).padStart(2, '0')}`, weight: 1 + (i % 4) })),
    'web@2',
  );
  const observed = new Array<number>(4).fill(0);
  for (let q = 0; q < QUERIES; q++)
    observed[Number(manager.order(many, { strategy: 'weighted-random' }).instances[0].id.slice(1)) % 4]++;
  // Per weight class: 3 instances each of weights 1..4, total 30.
  const statistic = chiSquare(
    observed,
    WEIGHTS.map((w) => (QUERIES * 3 * w) / 30),
  );
  t.ok(statistic < CRITICAL_3, `chi-square ${statistic.toFixed(2)} < ${CRITICAL_3}`);
});

t.test('the second position follows sampling without replacement, for draws and for full orders', async (t) => {
  const expected = secondPositionShares(WEIGHTS).map((share) => share * QUERIES);
  for (const [limit, seed] of [
    [2, 7],
    [0, 8],
  ]) {
    const statistic = chiSquare(counts(limit, 1, seed), expected);
    t.ok(statistic < CRITICAL_3, `limit ${limit}: chi-square ${statistic.toFixed(2)} < ${CRITICAL_3}`);
  }
});

t.test('zero-weight instances are never drawn while others remain', async (t) => {
  const manager = createStrategyManager(lbConfig(), { random: createSeededRandom(9) });
  const mixed = candidates(
    [
      instance({ id: 'a', weight: 0 }),
      instance({ id: 'b', weight: 1 }),
      instance({ id: 'c', weight: 0 }),
      instance({ id: 'd', weight: 2 }),
    ],
    'web@1',
  );
  for (let q = 0; q < 200; q++) {
    const order = ids(manager.order(mixed, { strategy: 'weighted-random', limit: q % 2 === 0 ? 2 : 0 }).instances);
    t.same(order.slice(0, 2).sort(), ['b', 'd']);
  }
});

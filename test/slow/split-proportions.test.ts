import t from 'tap';
import { createSeededRandom } from '../../src/lb/seeded-random.js';
import { json, startTestKonsul } from '../helpers/konsul.js';
import { putConfig, registerCanary } from '../helpers/canary.js';

const SEED = 18;

/**
 * Canary split proportions at full size (10,000 answers each, about a minute): kept out of
 * `npm run test:unit`; test/split.test.ts covers the same code at small scale.
 */

const CANARY = {
  split: [
    { tag: 'v2', weight: 5 },
    { tag: 'v1', weight: 95 },
  ],
};
const firstId = (body: string) => json<{ id: string }[]>({ body })[0].id;

t.test('the first position goes to each side in proportion: 5 % ± 2 points over 10,000 queries', async (t) => {
  const server = await startTestKonsul(t, {}, { random: createSeededRandom(SEED) });
  await registerCanary(server);
  t.equal((await putConfig(server, CANARY)).statusCode, 200);
  let canary = 0;
  const QUERIES = 10_000;
  for (let i = 0; i < QUERIES; i++) {
    const response = await server.app.inject({ url: '/catalog/services/web' });
    const first = firstId(response.body);
    if (first.startsWith('v2-')) canary++;
    if (response.headers['x-konsul-split'] !== (first.startsWith('v2-') ? 'v2' : 'v1')) {
      t.fail(`query ${i}: X-Konsul-Split ${String(response.headers['x-konsul-split'])} but ${first} first`);
      return;
    }
  }
  const share = (canary / QUERIES) * 100;
  t.ok(Math.abs(share - 5) <= 2, `canary share ${share.toFixed(2)} % (seed ${SEED})`);
  const whole = json<{ id: string }[]>(await server.app.inject({ url: '/catalog/services/web' }));
  t.equal(whole.length, 6, 'the rest of the answer still lists every instance');
  const metrics = (await server.app.inject({ url: '/metrics' })).body;
  t.match(metrics, /konsul_lb_split_answers_total\{service="web",side="v2"\} \d+/);
  t.match(metrics, /konsul_lb_split_answers_total\{service="web",side="v1"\} \d+/);
});

t.test('with a session key a user stays on one side, on every node, and keys split in proportion', async (t) => {
  const a = await startTestKonsul(t, {}, { random: createSeededRandom(1) });
  const b = await startTestKonsul(t, {}, { random: createSeededRandom(2) });
  for (const server of [a, b]) {
    await registerCanary(server);
    await putConfig(server, {
      split: [
        { tag: 'v2', weight: 20 },
        { tag: 'v1', weight: 80 },
      ],
    });
  }
  const KEYS = 10_000;
  let canary = 0;
  for (let k = 0; k < KEYS; k++) {
    const url = `/catalog/services/web?session-key=user-${k}`;
    const side = (await a.app.inject({ url })).headers['x-konsul-split'];
    if (side === 'v2') canary++;
    if (k % 50 === 0) {
      // Sticky: the same key again on this node, and on a node with another random seed.
      for (const server of [a, a, b]) {
        const again = (await server.app.inject({ url })).headers['x-konsul-split'];
        if (again !== side) {
          t.fail(`user-${k}: ${String(side)} then ${String(again)}`);
          return;
        }
      }
    }
  }
  const share = (canary / KEYS) * 100;
  t.ok(Math.abs(share - 20) <= 2, `share of keys on the canary ${share.toFixed(2)} %`);
  // With maglev inside the side, the whole answer is sticky too.
  const first = (await a.app.inject({ url: '/catalog/services/web?lb=maglev&session-key=user-1' })).body;
  t.equal((await b.app.inject({ url: '/catalog/services/web?lb=maglev&session-key=user-1' })).body, first);
});

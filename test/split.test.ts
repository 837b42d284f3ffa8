import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createSeededRandom } from '../src/lb/seeded-random.js';
import { json, startTestKonsul } from './helpers/konsul.js';
import { putConfig, registerCanary } from './helpers/canary.js';

const run = promisify(execFile);
const SEED = 18;

async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args]);
  return stdout;
}

const CANARY = {
  split: [
    { tag: 'v2', weight: 5 },
    { tag: 'v1', weight: 95 },
  ],
};
const firstId = (body: string) => json<{ id: string }[]>({ body })[0].id;

t.test('at small scale: shares follow the weights and a session key sticks across nodes', async (t) => {
  const a = await startTestKonsul(t, {}, { random: createSeededRandom(SEED) });
  const b = await startTestKonsul(t, {}, { random: createSeededRandom(SEED + 1) });
  for (const server of [a, b]) {
    await registerCanary(server);
    await putConfig(server, CANARY);
  }
  let canary = 0;
  for (let i = 0; i < 1000; i++)
    if (firstId((await a.app.inject({ url: '/catalog/services/web' })).body).startsWith('v2-')) canary++;
  t.ok(Math.abs(canary / 10 - 5) <= 2.5, `canary share ${canary / 10} % over 1,000 (seed ${SEED})`);
  for (let k = 0; k < 100; k++) {
    const url = `/catalog/services/web?session-key=user-${k}`;
    const sides = await Promise.all(
      [a, a, b].map(async (server) => (await server.app.inject({ url })).headers['x-konsul-split']),
    );
    t.equal(new Set(sides).size, 1, `user-${k} stays on ${String(sides[0])}`);
  }
});

t.test('a side with no healthy instance gives its first positions to the others', async (t) => {
  const server = await startTestKonsul(t, {}, { random: createSeededRandom(SEED) });
  await registerCanary(server, [{ type: 'ttl', ttl: '1h' }]);
  await putConfig(server, {
    split: [
      { tag: 'v2', weight: 1 },
      { tag: 'v1', weight: 0 },
    ],
  });
  for (let i = 0; i < 20; i++) {
    const response = await server.app.inject({ url: '/catalog/services/web' });
    t.match(firstId(response.body), /^v1-/, 'the critical canaries are filtered, v1 answers');
  }
});

t.test('bad splits are refused and change nothing', async (t) => {
  const server = await startTestKonsul(t);
  await registerCanary(server);
  for (const split of [
    [],
    [{ tag: 'v2', weight: 0 }],
    [
      { tag: 'v2', weight: 1 },
      { tag: 'v2', weight: 2 },
    ],
    [{ tag: 'v2', weight: -1 }],
    [{ tag: 'v2' }],
  ]) {
    const response = await putConfig(server, { split });
    t.equal(response.statusCode, 400, JSON.stringify(split));
    t.equal(json<{ error: { code: string } }>(response).error.code, 'validation_failed');
  }
  t.equal(server.catalog.serviceConfig('web'), undefined);
});

t.test('DNS answers split by client subnet, and each subnet stays on its side', async (t) => {
  const server = await startTestKonsul(t, { dns: { enabled: true } });
  const port = server.dns!.port;
  await registerCanary(server);
  await putConfig(server, {
    split: [
      { tag: 'v2', weight: 50 },
      { tag: 'v1', weight: 50 },
    ],
  });
  const sides = new Set<string>();
  for (let n = 0; n < 12; n++) {
    const subnet = `+subnet=198.51.${n}.0/24`;
    const first = (await dig(port, 'web.service.konsul', 'A', '+short', subnet)).trim().split('\n')[0];
    const again = (await dig(port, 'web.service.konsul', 'A', '+short', subnet)).trim().split('\n')[0];
    t.equal(again.slice(0, 7), first.slice(0, 7), `198.51.${n}.0/24 stays on its side`);
    sides.add(first.slice(0, 7));
  }
  t.same([...sides].sort(), ['10.0.1.', '10.0.2.'], 'both sides answer some subnets');
  // All the weight on the canary: every subnet, whatever dns.lb would have put first, gets it first.
  await putConfig(server, {
    split: [
      { tag: 'v2', weight: 1 },
      { tag: 'v1', weight: 0 },
    ],
  });
  for (let n = 0; n < 12; n++) {
    const first = (await dig(port, 'web.service.konsul', 'A', '+short', `+subnet=198.51.${n}.0/24`)).split('\n')[0];
    t.match(first, /^10\.0\.2\./, `198.51.${n}.0/24 gets a canary first`);
  }
  const scoped = await dig(port, 'web.service.konsul', 'A', '+subnet=198.51.7.0/24');
  t.match(scoped, /CLIENT-SUBNET: 198\.51\.7\.0\/24\/24/, 'the answer is scoped to the subnet it depends on');
});

import t from 'tap';
import type { Instance } from '../src/catalog/types.js';
import { json, startTestKonsul } from './helpers/konsul.js';

/** The fields a service query lists, in the order InstanceSchema declares them. */
const LISTED = ['id', 'name', 'address', 'port', 'tags', 'meta', 'weight', 'region', 'zone', 'status'] as const;

function listed(instance: Instance): string {
  return JSON.stringify(Object.fromEntries(LISTED.map((field) => [field, instance[field]])));
}

t.test('a service query answers each instance as its schema serializes it, joined into one array', async (t) => {
  const konsul = await startTestKonsul(t);
  const { app } = konsul;
  const registrations = [
    { name: 'web', address: '10.0.0.1', port: 80, tags: ['v1', 'quote "q"'], meta: { build: '7', note: 'é ✓ \\ /' } },
    { name: 'web', address: '10.0.0.2', port: 81, weight: 4, region: 'eu-west', zone: 'eu-west-1a' },
    { name: 'web', address: '10.0.0.3', port: 82, tags: ['😀'] },
  ];
  for (const payload of registrations) {
    t.equal((await app.inject({ method: 'PUT', url: '/catalog/register', payload })).statusCode, 200);
  }
  for (const url of [
    '/catalog/services?name=web',
    '/catalog/services/web?lb=ring-hash&session-key=u&limit=2',
    '/services/web',
  ]) {
    const answer = await app.inject({ method: 'GET', url });
    t.equal(answer.statusCode, 200, url);
    t.equal(answer.headers['content-type'], 'application/json; charset=utf-8', url);
    const ids = json<{ id: string }[]>(answer).map((instance) => instance.id);
    t.ok(ids.length > 0, url);
    const expected = `[${ids.map((id) => listed(konsul.catalog.instance(id)!)).join(',')}]`;
    t.equal(answer.body, expected, `${url}: byte for byte`);
  }
  const empty = await app.inject({ method: 'GET', url: '/catalog/services?name=nothing' });
  t.equal(empty.body, '[]');
});

t.test('an instance answered again after a change is answered with its new fields, not its cached bytes', async (t) => {
  const { app } = await startTestKonsul(t);
  const register = (tags: string[]) =>
    app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: {
        id: 'web-1',
        name: 'web',
        address: '10.0.0.1',
        port: 80,
        tags,
        checks: [{ type: 'ttl', ttl: '1h', status: 'passing' }],
      },
    });
  await register(['v1']);
  const first = json<Instance[]>(await app.inject({ method: 'GET', url: '/catalog/services/web' }));
  t.same(
    first.map((instance) => instance.tags),
    [['v1']],
  );
  await register(['v2']);
  const second = json<Instance[]>(await app.inject({ method: 'GET', url: '/catalog/services/web' }));
  t.same(
    second.map((instance) => instance.tags),
    [['v2']],
  );
  t.equal((await app.inject({ method: 'PUT', url: '/health/check/service:web-1/fail' })).statusCode, 200);
  const third = json<Instance[]>(await app.inject({ method: 'GET', url: '/catalog/services/web?health-filter=false' }));
  t.same(
    third.map((instance) => instance.status),
    ['critical'],
  );
  const health = json<{ Checks: { Status: string }[] }[]>(
    await app.inject({ method: 'GET', url: '/v1/health/service/web' }),
  );
  t.same(
    health.map((entry) => entry.Checks[0].Status),
    ['critical'],
  );
  t.equal((await app.inject({ method: 'PUT', url: '/health/check/service:web-1/pass' })).statusCode, 200);
  const again = json<{ Checks: { Status: string }[] }[]>(
    await app.inject({ method: 'GET', url: '/v1/health/service/web' }),
  );
  t.same(
    again.map((entry) => entry.Checks[0].Status),
    ['passing'],
  );
});

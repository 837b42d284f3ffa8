/**
 * Through the real catalog and HTTP routes (issue #13 item 1, scaled down): writes that do not
 * change a service's ids and weights rebuild no table, and tag filters share the service's one.
 */
import t from 'tap';
import { startTestKonsul } from './helpers/konsul.js';

const TAGS = ['t0', 't1', 't2', 't3', 't4'];

t.test('meta re-registrations, health flips and tag filters over HTTP build one ring for the service', async (t) => {
  const konsul = await startTestKonsul(t);
  const { app, lb } = konsul;
  const register = async (i: number, extra: Record<string, unknown> = {}) => {
    const response = await app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: {
        id: `heavy-${i}`,
        name: 'heavy',
        address: `10.0.0.${i + 1}`,
        port: 8080,
        weight: 1000,
        tags: i % 2 === 0 ? TAGS : ['t0'],
        checks: [{ id: `heavy-${i}-ttl`, type: 'ttl', ttl: '1h', status: 'passing' }],
        ...extra,
      },
    });
    t.equal(response.statusCode, 200);
  };
  for (let i = 0; i < 20; i++) await register(i);
  const query = async (suffix = '') => {
    const response = await app.inject({
      url: `/catalog/services/heavy?lb=ring-hash&session-key=u1&limit=1${suffix}`,
    });
    t.equal(response.statusCode, 200);
    return (JSON.parse(response.body) as { id: string }[]).map((instance) => instance.id);
  };
  await query();
  // The first query answered by rendezvous hashing while the ring was built in slices.
  await lb.tablesBuilt();
  const first = await query();
  const builds = lb.cacheStats().builds;
  t.ok(builds >= 1);
  for (let cycle = 0; cycle < 5; cycle++) {
    await register(7, { meta: { cycle: String(cycle) } });
    await query();
  }
  for (let subset = 1; subset < 2 ** TAGS.length; subset++) {
    await query(
      TAGS.filter((_, bit) => (subset >> bit) & 1)
        .map((tag) => `&tag=${tag}`)
        .join(''),
    );
  }
  const owner = first[0];
  const flip = await app.inject({ method: 'PUT', url: `/health/check/${owner}-ttl/fail` });
  t.equal(flip.statusCode, 200);
  const during = await query();
  t.not(during[0], owner, 'the critical owner is skipped');
  t.same(await query('&health-filter=false'), first, 'with the filter off, the same owner');
  await app.inject({ method: 'PUT', url: `/health/check/${owner}-ttl/pass` });
  t.same(await query(), first, 'healed: the key is back');
  await lb.tablesBuilt();
  t.equal(lb.cacheStats().builds, builds, 'five meta writes, 31 tag filters and two health flips built nothing');
});

/**
 * Through the real catalog and HTTP routes (issue #13 item 1, scaled down): writes that do not
 * change a service's ids and weights rebuild no table, and tag filters share the service's one.
 */
import t from 'tap';
import { buildQuery, decodeMessage, TYPE, UdpExchange } from './helpers/dns-client.js';
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

t.test('DNS answers of every tag and record type share the ring HTTP queries built for the service', async (t) => {
  const konsul = await startTestKonsul(t, {
    dns: { enabled: true, port: 0, lb: 'ring-hash' },
    lb: { buildSliceWork: 100_000_000 },
  });
  const { app, lb } = konsul;
  for (let i = 0; i < 8; i++) {
    const response = await app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: {
        id: `web-${i}`,
        name: 'web',
        address: i % 2 === 0 ? `10.0.0.${i + 1}` : `fd00::${i + 1}`,
        port: 8080,
        tags: i % 3 === 0 ? ['blue'] : ['green'],
      },
    });
    t.equal(response.statusCode, 200);
  }
  t.equal((await app.inject({ url: '/catalog/services/web?lb=ring-hash&session-key=u1' })).statusCode, 200);
  const builds = lb.cacheStats().builds;
  t.equal(builds, 1, 'one ring for the service');
  const exchange = new UdpExchange(t, konsul.dns!.port);
  for (const [name, type] of [
    ['web.service.konsul', TYPE.A],
    ['web.service.konsul', TYPE.AAAA],
    ['web.service.konsul', TYPE.SRV],
    ['blue.web.service.konsul', TYPE.A],
    ['green.web.service.konsul', TYPE.SRV],
  ] as const) {
    await exchange.send(buildQuery(name, type));
    const reply = await exchange.next();
    t.ok(reply !== undefined && decodeMessage(reply).answers.length > 0, `${name} ${type} answered`);
  }
  t.equal(lb.cacheStats().builds, builds, 'DNS built no table of its own');
});

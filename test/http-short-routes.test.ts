import t from 'tap';
import { json, startTestKonsul } from './helpers/konsul.js';
import { untilCatalog } from './helpers/health-targets.js';

t.test(
  'PUT /register gives a check-less instance a 30 s TTL check, passing from the start, that PUT /heartbeat renews',
  async (t) => {
    const { app } = await startTestKonsul(t);
    const registered = await app.inject({
      method: 'PUT',
      url: '/register',
      payload: { name: 'worker', address: '10.0.4.1', port: 7000 },
    });
    t.equal(registered.statusCode, 200);
    const { id } = json<{ id: string }>(registered);
    const before = json<{ status: string; checks: { id: string; type: string; ttl: string }[] }>(
      await app.inject({ method: 'GET', url: `/catalog/instances/${id}` }),
    );
    // Passing at once, so a client that registers and queries at once finds the instance (issue #12).
    t.match(before, { status: 'passing', checks: [{ id: `service:${id}`, type: 'ttl', ttl: '30s' }] });
    t.same(
      json<{ id: string }[]>(await app.inject({ method: 'GET', url: '/services/worker' })).map((i) => i.id),
      [id],
      'a query right after the registration finds it',
    );
    const beat = await app.inject({ method: 'PUT', url: `/heartbeat/${id}` });
    t.equal(beat.statusCode, 200);
    t.same(json(beat), { id, checks: [`service:${id}`] });
    const after = json<{ status: string; checks: { note: string }[] }>(
      await app.inject({ method: 'GET', url: `/catalog/instances/${id}` }),
    );
    t.equal(after.status, 'passing');
    const withNote = await app.inject({ method: 'PUT', url: `/heartbeat/${id}`, payload: { note: 'all good' } });
    t.equal(withNote.statusCode, 200);
    t.equal(
      json<{ checks: { note: string }[] }>(await app.inject({ method: 'GET', url: `/catalog/instances/${id}` }))
        .checks[0].note,
      'all good',
    );
  },
);

t.test('PUT /register keeps the checks a registration brings', async (t) => {
  const { app } = await startTestKonsul(t);
  const { id } = json<{ id: string }>(
    await app.inject({
      method: 'PUT',
      url: '/register',
      payload: {
        name: 'worker',
        address: '10.0.4.1',
        port: 7000,
        checks: [{ type: 'ttl', ttl: '5m', status: 'passing' }],
      },
    }),
  );
  const instance = json<{ checks: { ttl: string }[] }>(
    await app.inject({ method: 'GET', url: `/catalog/instances/${id}` }),
  );
  t.same(
    instance.checks.map((check) => check.ttl),
    ['5m'],
  );
});

t.test('PUT /heartbeat for an unknown instance is 404 and for one without a TTL check is 400', async (t) => {
  const { app } = await startTestKonsul(t);
  const missing = await app.inject({ method: 'PUT', url: '/heartbeat/nope' });
  t.equal(missing.statusCode, 404);
  t.equal(json<{ error: { code: string } }>(missing).error.code, 'instance_not_found');
  const { id } = json<{ id: string }>(
    await app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: { name: 'web', address: '10.0.0.1', port: 80 },
    }),
  );
  const noTtl = await app.inject({ method: 'PUT', url: `/heartbeat/${id}` });
  t.equal(noTtl.statusCode, 400);
  t.match(json<{ error: { message: string } }>(noTtl).error.message, /no ttl check/);
});

t.test('GET /services/, GET /services/:name and DELETE /deregister/:id mirror the catalog routes', async (t) => {
  const { app } = await startTestKonsul(t);
  await app.inject({
    method: 'PUT',
    url: '/register',
    payload: { id: 'w1', name: 'worker', address: '10.0.4.1', port: 7000 },
  });
  // The instance is passing from its registration, so the heartbeat changes no status and
  // writes nothing: the service is still at the registration's index, 2.
  await app.inject({ method: 'PUT', url: '/heartbeat/w1' });
  const listing = await app.inject({ method: 'GET', url: '/services/' });
  t.same(json(listing), [{ name: 'worker', index: 2, instances: 1, passing: 1, warning: 0, critical: 0 }]);
  const instances = await app.inject({ method: 'GET', url: '/services/worker' });
  t.same(
    json<{ id: string }[]>(instances).map((i) => i.id),
    ['w1'],
  );
  t.equal(instances.headers['x-konsul-index'], '2');
  const removed = await app.inject({ method: 'DELETE', url: '/deregister/w1' });
  t.same(json(removed), { id: 'w1', index: 3 });
  t.same(json(await app.inject({ method: 'GET', url: '/services/worker' })), []);
  t.equal((await app.inject({ method: 'DELETE', url: '/deregister/w1' })).statusCode, 404);
});

t.test('GET /services/ is a blocking query like the listing it mirrors', async (t) => {
  const { app, catalog } = await startTestKonsul(t);
  const index = catalog.index;
  const held = app.inject({ method: 'GET', url: `/services/?index=${index}&wait=30s` });
  await app.inject({ method: 'PUT', url: '/register', payload: { name: 'worker', address: '10.0.4.1', port: 7000 } });
  const response = await held;
  t.equal(response.headers['x-konsul-index'], String(index + 1));
  t.same(
    json<{ name: string }[]>(response).map((service) => service.name),
    ['worker'],
  );
  t.equal(
    (await app.inject({ method: 'GET', url: '/services/?bogus=1' })).statusCode,
    400,
    'unknown parameters are refused here too',
  );
});

t.test(
  'an instance registered with PUT /register turns critical when its TTL lapses without a heartbeat',
  async (t) => {
    const { app, catalog } = await startTestKonsul(t, { health: { defaultTtl: '300ms' } });
    const { id } = json<{ id: string }>(
      await app.inject({
        method: 'PUT',
        url: '/register',
        payload: { name: 'worker', address: '10.0.4.1', port: 7000 },
      }),
    );
    t.equal(catalog.instance(id)?.status, 'passing', 'passing from the registration');
    await untilCatalog(
      'the lapsed TTL to turn the instance critical',
      catalog,
      () => catalog.instance(id)?.status === 'critical',
    );
    t.same(json(await app.inject({ method: 'GET', url: '/services/worker' })), [], 'no longer answered');
    await app.inject({ method: 'PUT', url: `/heartbeat/${id}` });
    t.equal(catalog.instance(id)?.status, 'passing', 'a heartbeat brings it back');
  },
);

import t from 'tap';
import Fastify, { type FastifyInstance } from 'fastify';
import { checkRoutes } from '../src/http/routes/checks.js';
import { errorHandler } from '../src/http/error-handler.js';
import { validatorCompiler } from '../src/http/validation.js';
import { checkOf, startHealth, type HealthHarness, type TestContext } from './helpers/health-targets.js';

/** The three routes on a bare Fastify app with the server's validation and error shape. */
async function routes(t: TestContext): Promise<HealthHarness & { app: FastifyInstance }> {
  // Checks run every hour: these tests drive statuses through the routes, not through probes.
  const harness = await startHealth(t, {}, { random: () => 0.999 });
  const app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(errorHandler);
  await app.register(checkRoutes, {
    catalog: harness.catalog,
    health: harness.manager,
    blocking: { defaultWaitMs: 300_000, maxWaitMs: 600_000 },
  });
  t.teardown(() => app.close());
  const { catalog } = harness;
  await catalog.register({
    id: 'web-1',
    name: 'web',
    address: '10.0.0.1',
    port: 80,
    checks: [{ id: 'web-1-ttl', type: 'ttl', ttl: '1h', status: 'passing' }],
  });
  await catalog.register({
    id: 'web-2',
    name: 'web',
    address: '10.0.0.2',
    port: 80,
    checks: [
      { id: 'web-2-ttl', type: 'ttl', ttl: '1h' },
      {
        id: 'web-2-http',
        type: 'http',
        http: 'http://127.0.0.1:9/health',
        interval: '1h',
        headers: { Authorization: 'Bearer secret' },
      },
    ],
  });
  await catalog.register({
    id: 'db-1',
    name: 'db',
    address: '10.0.0.3',
    port: 5432,
    checks: [{ id: 'db-1-ttl', type: 'ttl', ttl: '1h', status: 'warning' }],
  });
  return { ...harness, app };
}

t.test('GET /health/checks/:service lists the checks of every instance of the service, with its index', async (t) => {
  const { app, catalog } = await routes(t);
  const response = await app.inject({ method: 'GET', url: '/health/checks/web' });
  t.equal(response.statusCode, 200);
  t.equal(response.headers['x-konsul-index'], String(catalog.serviceIndex('web')));
  const checks =
    response.json<
      { id: string; instanceId: string; status: string; type: string; note: string; statusChangedAt: number }[]
    >();
  t.same(
    checks.map((check) => [check.id, check.instanceId, check.type, check.status]),
    [
      ['web-1-ttl', 'web-1', 'ttl', 'passing'],
      ['web-2-ttl', 'web-2', 'ttl', 'critical'],
      ['web-2-http', 'web-2', 'http', 'critical'],
    ],
  );
  t.type(checks[0].statusChangedAt, 'number');
  t.notMatch(response.body, /Bearer secret/, 'check headers (credentials) are not served');
});

t.test('GET /health/checks/:service with index blocks until a check of the service changes', async (t) => {
  const { app, catalog } = await routes(t);
  const index = catalog.serviceIndex('web');
  const held = app.inject({ method: 'GET', url: `/health/checks/web?index=${index}&wait=30s` });
  await app.inject({ method: 'PUT', url: '/health/check/db-1-ttl/pass' });
  await app.inject({ method: 'PUT', url: '/health/check/web-2-ttl/pass' });
  const response = await held;
  t.equal(response.headers['x-konsul-index'], String(catalog.serviceIndex('web')));
  t.ok(Number(response.headers['x-konsul-index']) > index, 'the answer carries the new index');
  t.equal(
    response.json<{ id: string; status: string }[]>().find((check) => check.id === 'web-2-ttl')?.status,
    'passing',
  );
});

t.test('GET /health/checks/:service of an unknown service is an empty list', async (t) => {
  const { app, catalog } = await routes(t);
  const response = await app.inject({ method: 'GET', url: '/health/checks/nothing-here' });
  t.equal(response.statusCode, 200);
  t.same(response.json(), []);
  t.equal(response.headers['x-konsul-index'], String(catalog.serviceIndex('nothing-here')));
});

t.test('GET /health/checks/:service refuses a name that is not a DNS label', async (t) => {
  const { app } = await routes(t);
  const response = await app.inject({ method: 'GET', url: '/health/checks/not_a_label' });
  t.equal(response.statusCode, 400);
  t.equal(response.json<{ error: { code: string } }>().error.code, 'validation_failed');
});

t.test('GET /health/state/:state lists the checks in that state, or all of them for any', async (t) => {
  const { app, catalog } = await routes(t);
  const ids = async (state: string) => {
    const response = await app.inject({ method: 'GET', url: `/health/state/${state}` });
    t.equal(response.statusCode, 200);
    t.equal(response.headers['x-konsul-index'], String(catalog.serviceIndex(undefined)));
    return response.json<{ id: string }[]>().map((check) => check.id);
  };
  t.same(await ids('passing'), ['web-1-ttl']);
  t.same(await ids('warning'), ['db-1-ttl']);
  t.same(await ids('critical'), ['web-2-ttl', 'web-2-http']);
  t.same(await ids('any'), ['db-1-ttl', 'web-1-ttl', 'web-2-ttl', 'web-2-http']);
});

t.test('GET /health/state/:state refuses any other state', async (t) => {
  const { app } = await routes(t);
  const response = await app.inject({ method: 'GET', url: '/health/state/healthy' });
  t.equal(response.statusCode, 400);
  const { error } = response.json<{ error: { code: string; message: string } }>();
  t.equal(error.code, 'validation_failed');
  t.match(error.message, /params\.state/);
});

t.test('PUT /health/check/:checkId/pass, /warn and /fail set a ttl check, with no body at all', async (t) => {
  const { app, catalog } = await routes(t);
  for (const [verb, status] of [
    ['pass', 'passing'],
    ['warn', 'warning'],
    ['fail', 'critical'],
  ] as const) {
    const response = await app.inject({ method: 'PUT', url: `/health/check/web-2-ttl/${verb}` });
    t.equal(response.statusCode, 200, `${verb} answers 200`);
    t.same(response.json(), { checkId: 'web-2-ttl', status });
    t.equal(checkOf(catalog, 'web-2-ttl')?.status, status);
  }
});

t.test('a note in the body becomes the check note', async (t) => {
  const { app, catalog } = await routes(t);
  const response = await app.inject({
    method: 'PUT',
    url: '/health/check/web-2-ttl/warn',
    payload: { note: 'disk 91% full' },
  });
  t.equal(response.statusCode, 200);
  t.same(checkOf(catalog, 'web-2-ttl'), { ...checkOf(catalog, 'web-2-ttl'), status: 'warning', note: 'disk 91% full' });
});

t.test('an empty body sent as application/json counts as no body', async (t) => {
  const { app, catalog } = await routes(t);
  const response = await app.inject({
    method: 'PUT',
    url: '/health/check/web-2-ttl/pass',
    headers: { 'content-type': 'application/json' },
    payload: '',
  });
  t.equal(response.statusCode, 200);
  t.equal(checkOf(catalog, 'web-2-ttl')?.status, 'passing');
});

t.test('the ttl update routes refuse bad bodies, unknown checks and checks that are not ttl checks', async (t) => {
  const { app } = await routes(t);
  const put = (url: string, payload?: object) =>
    app.inject({ method: 'PUT', url, ...(payload === undefined ? {} : { payload }) });
  const codeOf = (response: Awaited<ReturnType<typeof put>>) => [
    response.statusCode,
    response.json<{ error: { code: string } }>().error.code,
  ];
  t.same(
    codeOf(await put('/health/check/web-2-ttl/pass', { note: 'x'.repeat(4097) })),
    [400, 'validation_failed'],
    'a note over 4096 characters',
  );
  t.same(
    codeOf(await put('/health/check/web-2-ttl/pass', { output: 'x' })),
    [400, 'validation_failed'],
    'an unknown field',
  );
  t.same(codeOf(await put('/health/check/nope/pass')), [404, 'check_not_found']);
  t.same(codeOf(await put('/health/check/web-2-http/pass')), [400, 'not_ttl_check']);
});

t.test('a pass resets the TTL deadline through the manager', async (t) => {
  const harness = await startHealth(t);
  const app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(errorHandler);
  await app.register(checkRoutes, {
    catalog: harness.catalog,
    health: harness.manager,
    blocking: { defaultWaitMs: 300_000, maxWaitMs: 600_000 },
  });
  t.teardown(() => app.close());
  await harness.catalog.register({
    name: 'worker',
    address: '10.0.0.9',
    port: 1,
    checks: [{ id: 'short', type: 'ttl', ttl: '200ms' }],
  });
  for (let beat = 0; beat < 4; beat++) {
    t.equal((await app.inject({ method: 'PUT', url: '/health/check/short/pass' })).statusCode, 200);
    await harness.clock.advance(100);
    await harness.manager.settled();
    // Read before the next pass: a pass that did not move the deadline shows here, at 200 ms.
    t.equal(checkOf(harness.catalog, 'short')?.status, 'passing', `still passing ${(beat + 1) * 100} ms in`);
  }
  t.equal(checkOf(harness.catalog, 'short')?.status, 'passing', 'four passes 100 ms apart kept a 200 ms TTL alive');
});

import t from 'tap';
import { json, startTestKonsul } from './helpers/konsul.js';

/** The /v1 face through inject: Consul's shapes, status codes, headers and plain-text errors. */

type Inject = Awaited<ReturnType<typeof startTestKonsul>>['app']['inject'];
const put = (inject: Inject, url: string, payload?: unknown) =>
  inject({ method: 'PUT', url, ...(payload === undefined ? {} : { payload: payload as object }) });

t.test('agent/service/register maps Consul fields onto the catalog, with the ID defaulting to the name', async (t) => {
  const { app, catalog } = await startTestKonsul(t);
  const registered = await put(app.inject.bind(app), '/v1/agent/service/register', {
    Name: 'web',
    Address: '10.0.0.1',
    Port: 8080,
    Tags: ['v1'],
    Meta: { build: '7' },
    Weights: { Passing: 5, Warning: 1 },
    Checks: [
      {
        HTTP: 'http://10.0.0.1:8080/health',
        Interval: '10s',
        Timeout: '2s',
        Method: 'HEAD',
        Header: { 'X-Probe': ['a', 'b'] },
        SuccessBeforePassing: 2,
        FailuresBeforeCritical: 3,
      },
      { TTL: '30s', Status: 'passing', DeregisterCriticalServiceAfter: '5m', CheckID: 'web-ttl', Name: 'heartbeat' },
    ],
  });
  t.equal(registered.statusCode, 200);
  t.equal(registered.body, '', 'Consul answers a registration with an empty body');
  const instance = catalog.instance('web');
  t.match(instance, {
    id: 'web',
    name: 'web',
    address: '10.0.0.1',
    port: 8080,
    tags: ['v1'],
    meta: { build: '7' },
    weight: 5,
  });
  t.match(instance?.checks, [
    {
      id: 'service:web:1',
      name: "Service 'web' check",
      type: 'http',
      method: 'HEAD',
      headers: { 'X-Probe': 'a, b' },
      interval: '10s',
      timeout: '2s',
      successBeforePassing: 2,
      failuresBeforeCritical: 3,
    },
    { id: 'web-ttl', name: 'heartbeat', type: 'ttl', ttl: '30s', status: 'passing', deregisterCriticalAfter: '5m' },
  ]);
});

t.test(
  'a registration without Address takes the client address, as a Consul agent takes its node address',
  async (t) => {
    const { app, catalog } = await startTestKonsul(t);
    t.equal(
      (await put(app.inject.bind(app), '/v1/agent/service/register', { Name: 'api', Port: 9000 })).statusCode,
      200,
    );
    t.equal(catalog.instance('api')?.address, '127.0.0.1');
  },
);

t.test('registrations Konsul cannot honour are refused with 400 and a plain-text reason', async (t) => {
  const { app } = await startTestKonsul(t);
  const cases: [unknown, RegExp][] = [
    [{ Name: 'my_service', Port: 80 }, /^Invalid service name "my_service": Konsul service names are DNS labels/],
    [{ Name: '', Port: 80 }, /^Missing service name$/],
    [{ Name: 'web' }, /^Invalid service port/],
    [{ Name: 'web', Port: 80, Address: '0.0.0.0' }, /^Invalid service address$/],
    [
      { Name: 'web', Port: 80, Weights: { Passing: 0, Warning: 1 } },
      /^Invalid Weights: Passing must be greater than 0$/,
    ],
    [
      { Name: 'web', Port: 80, Weights: { Passing: 1001, Warning: 1 } },
      /^Invalid Weights: Passing must be at most 1000/,
    ],
    [
      { Name: 'web', Port: 80, Check: { Args: ['/bin/true'], Interval: '10s' } },
      /^Invalid check: Check\.Args: Konsul runs HTTP, TCP and TTL checks only$/,
    ],
    [{ Name: 'web', Port: 80, Check: { HTTP: 'http://x/' } }, /^Invalid check: Interval must be > 0/],
    [
      { Name: 'web', Port: 80, Check: { TTL: '10s', Status: 'maybe' } },
      /^Status for checks must 'passing', 'warning', 'critical'$/,
    ],
    [{ Name: 'web', Port: 80, Check: { HTTP: 'ftp://x/', Interval: '10s' } }, /^Invalid check: .*http: or https:/],
    [{ Name: 'web', Port: 80, Kind: 'connect-proxy' }, /^Invalid service kind "connect-proxy"/],
    [{ Name: 'web', Port: 'eighty' }, /^Request decode failed: Port: must be integer$/],
    [{ Name: 'web', Port: 80, Porrt: 81 }, /^Request decode failed: Porrt: is not a known field$/],
  ];
  for (const [body, message] of cases) {
    const response = await put(app.inject.bind(app), '/v1/agent/service/register', body);
    t.equal(response.statusCode, 400, JSON.stringify(body));
    t.match(response.headers['content-type'], /^text\/plain/);
    t.match(response.body, message);
  }
  const empty = await app.inject({ method: 'PUT', url: '/v1/agent/service/register' });
  t.same([empty.statusCode, empty.body], [400, 'Request decode failed: EOF']);
  const malformed = await app.inject({
    method: 'PUT',
    url: '/v1/agent/service/register',
    payload: '{"Name":',
    headers: { 'content-type': 'application/json' },
  });
  t.equal(malformed.statusCode, 400);
  t.match(malformed.body, /^Request decode failed: /);
});

t.test('agent/services, agent/service/:id and deregister answer in Consul shapes and wording', async (t) => {
  const { app } = await startTestKonsul(t);
  const inject = app.inject.bind(app);
  await put(inject, '/v1/agent/service/register', {
    ID: 'web-1',
    Name: 'web',
    Address: '10.0.0.1',
    Port: 80,
    Tags: ['a'],
  });
  const expected = {
    ID: 'web-1',
    Service: 'web',
    Tags: ['a'],
    Meta: {},
    Port: 80,
    Address: '10.0.0.1',
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Datacenter: 'dc1',
  };
  t.same(json(await inject({ method: 'GET', url: '/v1/agent/services' })), { 'web-1': expected });
  const one = await inject({ method: 'GET', url: '/v1/agent/service/web-1' });
  const body = json<{ ContentHash: string }>(one);
  t.same(body, { ...expected, ContentHash: body.ContentHash });
  t.match(body.ContentHash, /^[0-9a-f]{16}$/);
  t.equal(one.headers['x-consul-contenthash'], body.ContentHash);
  const missing = await inject({ method: 'GET', url: '/v1/agent/service/web-2' });
  t.same([missing.statusCode, missing.body], [404, 'unknown service ID: web-2']);
  t.equal((await put(inject, '/v1/agent/service/deregister/web-1')).statusCode, 200);
  const again = await put(inject, '/v1/agent/service/deregister/web-1');
  t.same(
    [again.statusCode, again.body],
    [404, 'Unknown service ID "web-1". Ensure that the service ID is passed, not the service name.'],
  );
});

t.test('agent/service/:id with the current hash blocks until the service changes', async (t) => {
  const { app } = await startTestKonsul(t);
  const inject = app.inject.bind(app);
  await put(inject, '/v1/agent/service/register', { Name: 'web', Address: '10.0.0.1', Port: 80 });
  const { ContentHash } = json<{ ContentHash: string }>(await inject({ method: 'GET', url: '/v1/agent/service/web' }));
  const held = inject({ method: 'GET', url: `/v1/agent/service/web?hash=${ContentHash}&wait=5s` });
  await new Promise((resolve) => setTimeout(resolve, 50));
  await put(inject, '/v1/agent/service/register', { Name: 'web', Address: '10.0.0.1', Port: 81 });
  const changed = json<{ Port: number; ContentHash: string }>(await held);
  t.equal(changed.Port, 81);
  t.not(changed.ContentHash, ContentHash);
});

t.test(
  'check pass, warn, fail and update move a TTL check; other checks and unknown ids answer as Consul does',
  async (t) => {
    const { app, catalog } = await startTestKonsul(t);
    const inject = app.inject.bind(app);
    await put(inject, '/v1/agent/service/register', {
      Name: 'web',
      Address: '10.0.0.1',
      Port: 80,
      Checks: [{ TTL: '1m' }, { TCP: '10.0.0.1:80', Interval: '1h' }],
    });
    const status = () => catalog.findCheck('service:web:1')?.check;
    t.equal((await put(inject, '/v1/agent/check/pass/service:web:1?note=fine')).statusCode, 200);
    t.match(status(), { status: 'passing', note: 'fine' });
    await put(inject, '/v1/agent/check/warn/service:web:1');
    t.match(status(), { status: 'warning', note: '' });
    await put(inject, '/v1/agent/check/fail/service:web:1?note=down');
    t.match(status(), { status: 'critical', note: 'down' });
    t.equal(
      (await put(inject, '/v1/agent/check/update/service:web:1', { Status: 'passing', Output: 'x'.repeat(5000) }))
        .statusCode,
      200,
    );
    t.match(status(), { status: 'passing', note: /^x{4096}\n\n\.\.\. \(captured 4096 of 5000 characters\)$/ });

    const badStatus = await put(inject, '/v1/agent/check/update/service:web:1', { Status: 'ok' });
    t.same([badStatus.statusCode, badStatus.body], [400, "Invalid check status: 'ok'"]);
    const notTtl = await put(inject, '/v1/agent/check/pass/service:web:2');
    t.same([notTtl.statusCode, notTtl.body], [500, 'CheckID "service:web:2" does not have associated TTL']);
    const unknown = await put(inject, '/v1/agent/check/pass/nope');
    t.same(
      [unknown.statusCode, unknown.body],
      [404, 'Unknown check ID "nope". Ensure that the check ID is passed, not the check name.'],
    );
  },
);

t.test(
  'catalog/services, catalog/service and health endpoints answer in Consul shapes with X-Consul headers',
  async (t) => {
    const { app } = await startTestKonsul(t);
    const inject = app.inject.bind(app);
    await put(inject, '/v1/agent/service/register', {
      ID: 'web-1',
      Name: 'web',
      Address: '10.0.0.1',
      Port: 80,
      Tags: ['v1', 'eu'],
      Check: { TTL: '1m', Status: 'passing' },
    });
    await put(inject, '/v1/agent/service/register', {
      ID: 'web-2',
      Name: 'web',
      Address: '10.0.0.2',
      Port: 80,
      Tags: ['v2'],
      Check: { TTL: '1m' },
    });

    const services = await inject({ method: 'GET', url: '/v1/catalog/services' });
    t.same(json(services), { web: ['eu', 'v1', 'v2'] });
    t.match(services.headers, { 'x-consul-index': '3', 'x-consul-knownleader': 'true', 'x-consul-lastcontact': '0' });

    const catalogNodes = json<Record<string, unknown>[]>(
      await inject({ method: 'GET', url: '/v1/catalog/service/web?tag=v1&tag=eu' }),
    );
    t.equal(catalogNodes.length, 1);
    t.match(catalogNodes[0], {
      ID: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      Node: 'konsul',
      Address: '127.0.0.1',
      Datacenter: 'dc1',
      ServiceID: 'web-1',
      ServiceName: 'web',
      ServiceTags: ['v1', 'eu'],
      ServiceAddress: '10.0.0.1',
      ServicePort: 80,
      ServiceWeights: { Passing: 1, Warning: 1 },
      ServiceEnableTagOverride: false,
      CreateIndex: 2,
      ModifyIndex: 2,
    });

    const all = json<{ Service: { ID: string }; Checks: { CheckID: string; Status: string }[] }[]>(
      await inject({ method: 'GET', url: '/v1/health/service/web' }),
    );
    t.same(
      all.map((entry) => entry.Service.ID),
      ['web-1', 'web-2'],
      'critical instances are listed without ?passing',
    );
    t.same(
      all[1].Checks.map((check) => [check.CheckID, check.Status]),
      [
        ['service:web-2', 'critical'],
        ['serfHealth', 'passing'],
      ],
    );
    const passing = json<{ Service: { ID: string } }[]>(
      await inject({ method: 'GET', url: '/v1/health/service/web?passing' }),
    );
    t.same(
      passing.map((entry) => entry.Service.ID),
      ['web-1'],
    );
    t.same(json<unknown[]>(await inject({ method: 'GET', url: '/v1/health/service/web?passing=false' })).length, 2);
    const badPassing = await inject({ method: 'GET', url: '/v1/health/service/web?passing=perhaps' });
    t.same([badPassing.statusCode, badPassing.body], [400, 'Invalid value for ?passing']);

    const checks = json<{ CheckID: string; ServiceID: string; Type: string; Definition: unknown }[]>(
      await inject({ method: 'GET', url: '/v1/health/checks/web' }),
    );
    t.same(
      checks.map((check) => [check.CheckID, check.ServiceID, check.Type]),
      [
        ['service:web-1', 'web-1', 'ttl'],
        ['service:web-2', 'web-2', 'ttl'],
      ],
    );
    t.same(checks[0].Definition, { TTL: '1m' });
    const critical = json<{ CheckID: string }[]>(await inject({ method: 'GET', url: '/v1/health/state/critical' }));
    t.same(
      critical.map((check) => check.CheckID),
      ['service:web-2'],
    );
    const any = json<{ CheckID: string }[]>(await inject({ method: 'GET', url: '/v1/health/state/any' }));
    t.same(
      any.map((check) => check.CheckID),
      ['service:web-1', 'service:web-2', 'serfHealth'],
    );
    const badState = await inject({ method: 'GET', url: '/v1/health/state/sick' });
    t.equal(badState.statusCode, 400);
    t.same(
      json(await inject({ method: 'GET', url: '/v1/health/service/web?node-meta=rack:r1' })),
      [],
      'the synthetic node has no metadata',
    );
    t.same(json(await inject({ method: 'GET', url: '/v1/catalog/service/unknown' })), []);
  },
);

t.test('lb and limit order the answer through the strategy manager; without them Consul order is kept', async (t) => {
  const { app } = await startTestKonsul(t);
  const inject = app.inject.bind(app);
  for (const n of [1, 2, 3])
    await put(inject, '/v1/agent/service/register', { ID: `web-${n}`, Name: 'web', Address: `10.0.0.${n}`, Port: 80 });
  const ids = async (url: string) =>
    json<{ ServiceID: string }[]>(await inject({ method: 'GET', url })).map((entry) => entry.ServiceID);
  t.same(await ids('/v1/catalog/service/web'), ['web-1', 'web-2', 'web-3']);
  t.same(await ids('/v1/catalog/service/web'), ['web-1', 'web-2', 'web-3'], 'the same index gives the same body');
  const firsts = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const response = await inject({ method: 'GET', url: '/v1/catalog/service/web?lb=round-robin&limit=1' });
    t.equal(response.headers['x-konsul-strategy'], 'round-robin');
    t.equal(response.headers['x-consul-index'], '4');
    const answer = json<{ ServiceID: string }[]>(response);
    t.equal(answer.length, 1);
    firsts.add(answer[0].ServiceID);
  }
  t.equal(firsts.size, 3, 'round-robin rotates through every instance');
  const unknown = await inject({ method: 'GET', url: '/v1/health/service/web?lb=nope' });
  t.equal(unknown.statusCode, 400);
  t.match(unknown.body, /^Unknown load-balancing strategy "nope"/);
});

t.test('blocking queries wait for index and wait, and answer with the new X-Consul-Index', async (t) => {
  const { app } = await startTestKonsul(t);
  const inject = app.inject.bind(app);
  await put(inject, '/v1/agent/service/register', { Name: 'other', Address: '10.0.9.9', Port: 1 });
  const first = await inject({ method: 'GET', url: '/v1/health/service/web' });
  const index = String(first.headers['x-consul-index']);
  const started = Date.now();
  const timedOut = await inject({ method: 'GET', url: `/v1/health/service/web?index=${String(index)}&wait=200ms` });
  // Timers run on a monotonic clock; Date.now() can read a millisecond or two short of it.
  t.ok(Date.now() - started >= 195, 'held for the wait');
  t.equal(timedOut.headers['x-consul-index'], index);
  const held = inject({ method: 'GET', url: `/v1/health/service/web?index=${String(index)}&wait=10s` });
  await put(inject, '/v1/agent/service/register', { Name: 'web', Address: '10.0.0.1', Port: 80 });
  const woken = await held;
  t.ok(Number(woken.headers['x-consul-index']) > Number(index));
  t.same(
    json<{ Service: { ID: string } }[]>(woken).map((entry) => entry.Service.ID),
    ['web'],
  );
  const badWait = await inject({ method: 'GET', url: '/v1/catalog/services?index=1&wait=soon' });
  t.same([badWait.statusCode, badWait.body], [400, 'Invalid wait time']);
  const badIndex = await inject({ method: 'GET', url: '/v1/catalog/services?index=-1' });
  t.same([badIndex.statusCode, badIndex.body], [400, 'Invalid index']);
});

t.test(
  'wrong methods answer 405 with Allow, OPTIONS answers 200, unknown /v1 paths answer 404, all as plain text',
  async (t) => {
    const { app } = await startTestKonsul(t);
    const inject = app.inject.bind(app);
    const get = await inject({ method: 'GET', url: '/v1/agent/service/register' });
    t.same([get.statusCode, get.body, get.headers.allow], [405, 'method GET not allowed', 'OPTIONS,PUT']);
    const post = await inject({
      method: 'POST',
      url: '/v1/catalog/services',
      payload: 'not json',
      headers: { 'content-type': 'application/json' },
    });
    t.same(
      [post.statusCode, post.body, post.headers.allow],
      [405, 'method POST not allowed', 'OPTIONS,GET'],
      'the method is refused before the body is read',
    );
    const head = await inject({ method: 'HEAD', url: '/v1/health/service/web' });
    t.equal(head.statusCode, 405);
    const options = await inject({ method: 'OPTIONS', url: '/v1/agent/check/pass/service:web' });
    t.same([options.statusCode, options.headers.allow], [200, 'OPTIONS,PUT']);
    for (const url of ['/v1/kv/config', '/v1/acl/tokens', '/v1/catalog/nodes']) {
      const missing = await inject({ method: 'GET', url });
      t.equal(missing.statusCode, 404, url);
      t.match(missing.headers['content-type'], /^text\/plain/);
      t.match(missing.body, `Konsul does not serve ${url}`);
    }
  },
);

t.test('query options Konsul cannot honour are refused; the ones that need nothing are accepted', async (t) => {
  const { app } = await startTestKonsul(t);
  const inject = app.inject.bind(app);
  const refused: [string, number, RegExp][] = [
    ['/v1/catalog/services?dc=dc2', 500, /^No path to datacenter$/],
    ['/v1/catalog/services?stale&consistent', 400, /^Cannot specify \?stale with \?consistent/],
    ['/v1/health/service/web?filter=Service.Port%3D%3D80', 400, /"filter"/],
    ['/v1/agent/services?ns=team-a', 400, /"ns"/],
  ];
  for (const [url, status, message] of refused) {
    const response = await inject({ method: 'GET', url });
    t.equal(response.statusCode, status, url);
    t.match(response.body, message, url);
  }
  for (const url of [
    // Consul never looks at a parameter it does not know; clients add cache-busters.
    '/v1/catalog/service/web?unknown=1',
    '/v1/health/service/web?_time=1700000000000&passing=true',
    '/v1/catalog/services?dc=dc1&stale',
    '/v1/health/service/web?consistent&near=_agent&cached',
    '/v1/agent/self?pretty',
    '/v1/status/leader',
    '/v1/catalog/datacenters',
  ]) {
    t.equal((await inject({ method: 'GET', url })).statusCode, 200, url);
  }
});

t.test('a configured token is required on /v1 too, refused in Consul form (403, plain text)', async (t) => {
  const { app } = await startTestKonsul(t, { auth: { token: 's3cret', protectReads: false } });
  const inject = app.inject.bind(app);
  const anonymous = await put(inject, '/v1/agent/service/register', { Name: 'web', Port: 80, Address: '10.0.0.1' });
  t.equal(anonymous.statusCode, 403);
  t.match(anonymous.body, /^Permission denied/);
  const wrong = await inject({
    method: 'PUT',
    url: '/v1/agent/service/register',
    payload: { Name: 'web', Port: 80, Address: '10.0.0.1' },
    headers: { authorization: 'Bearer nope' },
  });
  t.same([wrong.statusCode, wrong.body], [403, 'ACL not found']);
  const bearer = await inject({
    method: 'PUT',
    url: '/v1/agent/service/register',
    payload: { Name: 'web', Port: 80, Address: '10.0.0.1' },
    headers: { authorization: 'Bearer s3cret' },
  });
  t.equal(bearer.statusCode, 200);
  t.equal(
    (await inject({ method: 'GET', url: '/v1/catalog/services' })).statusCode,
    200,
    'reads stay open unless protectReads',
  );
});

t.test('GET deregisters and passes TTL checks as python-consul 0.7 sends it, but never from a browser', async (t) => {
  const { app, catalog } = await startTestKonsul(t);
  const inject = app.inject.bind(app);
  await put(inject, '/v1/agent/service/register', { ID: 'web-1', Name: 'web', Port: 80, Check: { TTL: '30s' } });
  for (const headers of [
    { origin: 'https://example.com' },
    { 'sec-fetch-mode': 'no-cors' },
    { 'sec-fetch-site': 'cross-site' },
  ]) {
    const refused = await inject({ method: 'GET', url: '/v1/agent/check/pass/service:web-1', headers });
    t.same([refused.statusCode, refused.body, refused.headers.allow], [405, 'method GET not allowed', 'OPTIONS,PUT']);
    t.same(
      (await inject({ method: 'GET', url: '/v1/agent/service/deregister/web-1', headers })).statusCode,
      405,
      JSON.stringify(headers),
    );
  }
  t.equal(catalog.instance('web-1')?.status, 'critical', 'a browser changed nothing');
  const options = await inject({ method: 'OPTIONS', url: '/v1/agent/check/pass/service:web-1' });
  t.equal(options.headers.allow, 'OPTIONS,PUT', 'PUT is still the only method advertised');
  const passed = await inject({ method: 'GET', url: '/v1/agent/check/pass/service:web-1?note=up' });
  t.equal(passed.statusCode, 200, passed.body);
  t.match(catalog.instance('web-1'), { status: 'passing', checks: [{ note: 'up' }] });
  t.equal((await inject({ method: 'GET', url: '/v1/agent/check/fail/service:web-1' })).statusCode, 200);
  t.equal(catalog.instance('web-1')?.status, 'critical');
  t.equal((await inject({ method: 'GET', url: '/v1/agent/service/deregister/web-1' })).statusCode, 200);
  t.equal(catalog.instance('web-1'), undefined);
});

t.test('a GET that writes needs the token and counts against the write rate limit, as a PUT does', async (t) => {
  const { app, catalog } = await startTestKonsul(t, {
    auth: { token: 's3cret' },
    limits: { writesPerSecond: 1, writeBurst: 2 },
  });
  const inject = app.inject.bind(app);
  const registered = await put(inject, '/v1/agent/service/register?token=s3cret', {
    ID: 'web-1',
    Name: 'web',
    Port: 80,
  });
  t.equal(registered.statusCode, 200, registered.body);
  const anonymous = await inject({ method: 'GET', url: '/v1/agent/service/deregister/web-1' });
  t.equal(anonymous.statusCode, 403);
  t.match(anonymous.body, /^Permission denied/);
  t.ok(catalog.instance('web-1'), 'still registered');
  const allowed = await inject({ method: 'GET', url: '/v1/agent/service/deregister/web-1?token=s3cret' });
  t.equal(allowed.statusCode, 200, allowed.body);
  t.equal(catalog.instance('web-1'), undefined);
  const limited = await inject({ method: 'GET', url: '/v1/agent/check/pass/nope?token=s3cret' });
  t.equal(limited.statusCode, 429, 'the burst of two writes is spent');
});

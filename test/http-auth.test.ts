import t from 'tap';
import { json, startTestKonsul } from './helpers/konsul.js';

const TOKEN = 'tok-3f9c2a7e5b';
const payload = { name: 'web', address: '10.0.0.1', port: 80 };

t.test('with a token set, writes need it: none is 401, a wrong one 403, the right one passes', async (t) => {
  const { app, catalog } = await startTestKonsul(t, { auth: { token: TOKEN } });
  const before = catalog.index;
  const none = await app.inject({ method: 'PUT', url: '/catalog/register', payload });
  t.equal(none.statusCode, 401);
  t.equal(json<{ error: { code: string } }>(none).error.code, 'unauthorized');
  const wrong = await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload,
    headers: { authorization: 'Bearer nope' },
  });
  t.equal(wrong.statusCode, 403);
  t.equal(json<{ error: { code: string } }>(wrong).error.code, 'forbidden');
  t.equal(catalog.index, before, 'refused writes changed nothing');
  const bearer = await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload,
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  t.equal(bearer.statusCode, 200);
  const header = await app.inject({
    method: 'DELETE',
    url: '/catalog/instances/web-10.0.0.1-80',
    headers: { 'x-konsul-token': TOKEN },
  });
  t.equal(header.statusCode, 200);
  t.equal((await app.inject({ method: 'PUT', url: '/register', payload })).statusCode, 401, 'the short routes too');
});

t.test('reads stay open unless protectReads is set; probes are always open', async (t) => {
  const open = await startTestKonsul(t, { auth: { token: TOKEN } });
  t.equal((await open.app.inject({ method: 'GET', url: '/catalog/services/web' })).statusCode, 200);
  const closed = await startTestKonsul(t, { auth: { token: TOKEN, protectReads: true } });
  t.equal((await closed.app.inject({ method: 'GET', url: '/catalog/services/web' })).statusCode, 401);
  t.equal((await closed.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
  t.equal(
    (
      await closed.app.inject({
        method: 'GET',
        url: '/catalog/services/web',
        headers: { authorization: `Bearer ${TOKEN}` },
      })
    ).statusCode,
    200,
  );
  t.equal((await closed.app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200);
  t.equal((await closed.app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200);
});

t.test('the token never appears in the logs', async (t) => {
  const server = await startTestKonsul(t, { auth: { token: TOKEN }, log: { level: 'trace' } });
  await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload,
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  await server.app.inject({ method: 'PUT', url: '/catalog/register', payload, headers: { 'x-konsul-token': TOKEN } });
  await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload,
    headers: { authorization: 'Bearer wrong-token-value' },
  });
  await server.app.inject({
    method: 'PUT',
    url: `/v1/agent/service/register?token=${TOKEN}`,
    payload: { Name: 'web', Address: '10.0.0.1', Port: 80 },
  });
  await server.app.inject({ method: 'GET', url: `/catalog/services/web?token=${TOKEN}` });
  await server.app.inject({
    method: 'PUT',
    url: '/v1/agent/service/register',
    payload: { Name: 'api', Address: '10.0.0.2', Port: 80 },
    headers: { 'x-consul-token': TOKEN },
  });
  t.ok(server.logs.length > 0, 'something was logged');
  t.notOk(
    server.logs.some((line) => line.includes(TOKEN)),
    'the token is nowhere',
  );
  t.notOk(
    server.logs.some((line) => line.includes('wrong-token-value')),
    'nor a wrong token',
  );
});

t.test('a token in a %-encoded query key authenticates and is still kept out of the logs', async (t) => {
  const server = await startTestKonsul(t, { auth: { token: TOKEN }, log: { level: 'info' } });
  for (const key of ['%74oken', 'tok%65n', '%54OKEN', 'TOKEN']) {
    await server.app.inject({ method: 'PUT', url: `/catalog/register?${key}=${TOKEN}`, payload });
  }
  const encoded = await server.app.inject({ method: 'PUT', url: `/catalog/register?%74oken=${TOKEN}`, payload });
  t.equal(encoded.statusCode, 200, 'the parser decodes the key, so auth accepts it');
  const requestLines = server.logs.filter((line) => line.includes('"msg":"request"'));
  t.equal(requestLines.length, 5, 'each request logged its line');
  t.notOk(
    server.logs.some((line) => line.includes(TOKEN)),
    'the token is nowhere, whatever the spelling of its key',
  );
  t.ok(requestLines[0].includes('%74oken=[redacted]'), 'the line keeps the key as sent and hides the value');
});

t.test('a per-client write rate limit answers 429 with Retry-After, and leaves reads alone', async (t) => {
  let now = 1_000_000;
  const { app } = await startTestKonsul(t, { limits: { writesPerSecond: 1, writeBurst: 2 } }, { now: () => now });
  const write = () => app.inject({ method: 'PUT', url: '/catalog/register', payload });
  t.equal((await write()).statusCode, 200);
  t.equal((await write()).statusCode, 200);
  const limited = await write();
  t.equal(limited.statusCode, 429);
  t.equal(json<{ error: { code: string } }>(limited).error.code, 'rate_limited');
  t.equal(limited.headers['retry-after'], '1');
  t.equal((await app.inject({ method: 'GET', url: '/catalog/services/web' })).statusCode, 200, 'reads are not limited');
  now += 1000;
  t.equal((await write()).statusCode, 200, 'a second later there is room again');
});

t.test('Consul clients authenticate with X-Consul-Token or ?token=, and are refused as Consul refuses', async (t) => {
  const { app } = await startTestKonsul(t, { auth: { token: TOKEN } });
  const body = { Name: 'web', Address: '10.0.0.1', Port: 80 };
  const none = await app.inject({ method: 'PUT', url: '/v1/agent/service/register', payload: body });
  t.equal(none.statusCode, 403, 'Consul answers 403, never 401');
  t.match(none.body, /Permission denied|ACL not found/);
  const header = await app.inject({
    method: 'PUT',
    url: '/v1/agent/service/register',
    payload: body,
    headers: { 'x-consul-token': TOKEN },
  });
  t.equal(header.statusCode, 200);
  const query = await app.inject({ method: 'PUT', url: `/v1/agent/service/deregister/web?token=${TOKEN}` });
  t.equal(query.statusCode, 200);
  const wrong = await app.inject({ method: 'PUT', url: '/v1/agent/service/register?token=nope', payload: body });
  t.equal(wrong.statusCode, 403);
});

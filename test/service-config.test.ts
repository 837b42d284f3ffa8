import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { json, startTestKonsul, type TestKonsul } from './helpers/konsul.js';

const run = promisify(execFile);

async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args]);
  return stdout;
}

/** web-1 … web-4; web-4 has a TTL check left at warning, web-3 one left critical. */
async function registerWeb(server: TestKonsul): Promise<void> {
  for (let n = 1; n <= 4; n++) {
    const checks = n >= 3 ? [{ id: `ttl-${n}`, type: 'ttl', ttl: '1h', status: n === 3 ? 'critical' : 'warning' }] : [];
    const response = await server.app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: { id: `web-${n}`, name: 'web', address: `10.0.0.${n}`, port: 8080, checks },
    });
    if (response.statusCode !== 200) throw new Error(response.body);
  }
}

const ids = (body: string) => json<{ id: string }[]>({ body }).map((instance) => instance.id);
const errorCode = (response: { body: string }) => json<{ error: { code: string } }>(response).error.code;

async function putConfig(server: TestKonsul, config: Record<string, unknown>, name = 'web') {
  return server.app.inject({ method: 'PUT', url: `/catalog/services/${name}/config`, payload: config });
}

t.test('a service config is stored, read back, removed, and refused when bad', async (t) => {
  const server = await startTestKonsul(t);
  await registerWeb(server);
  const missing = await server.app.inject({ url: '/catalog/services/web/config' });
  t.equal(missing.statusCode, 404);
  t.equal(errorCode(missing), 'service_config_not_found');

  const put = await putConfig(server, { lb: 'round-robin', limit: 2, passing: true, panicThreshold: 30 });
  t.equal(put.statusCode, 200);
  const written = json<{ name: string; index: number }>(put);
  t.equal(written.name, 'web');
  const read = await server.app.inject({ url: '/catalog/services/WEB/config' });
  t.same(json(read), {
    name: 'web',
    config: { lb: 'round-robin', limit: 2, passing: true, panicThreshold: 30 },
    index: written.index,
  });
  t.equal(read.headers['x-konsul-index'], String(written.index));

  const index = server.catalog.index;
  for (const [body, code] of [
    [{ lb: 'fastest' }, 'unknown_strategy'],
    [{ limit: -1 }, 'validation_failed'],
    [{ panicThreshold: 101 }, 'validation_failed'],
    [{ passing: 'yes' }, 'validation_failed'],
    [{ weights: {} }, 'validation_failed'],
  ] as const) {
    const refused = await putConfig(server, body);
    t.equal(refused.statusCode, 400, JSON.stringify(body));
    t.equal(errorCode(refused), code, JSON.stringify(body));
  }
  t.equal(server.catalog.index, index, 'a refused config changes nothing');
  t.same(server.catalog.serviceConfig('web')?.config, {
    lb: 'round-robin',
    limit: 2,
    passing: true,
    panicThreshold: 30,
  });

  const removed = await server.app.inject({ method: 'DELETE', url: '/catalog/services/web/config' });
  t.equal(removed.statusCode, 200);
  t.ok(json<{ index: number }>(removed).index > written.index);
  const again = await server.app.inject({ method: 'DELETE', url: '/catalog/services/web/config' });
  t.equal(again.statusCode, 404);
  t.equal(errorCode(again), 'service_config_not_found');
});

t.test('queries without parameters follow the config; their own parameters override it', async (t) => {
  const server = await startTestKonsul(t);
  await registerWeb(server);
  const plain = await server.app.inject({ url: '/catalog/services/web' });
  t.equal(plain.headers['x-konsul-strategy'], 'round-robin');
  t.equal(ids(plain.body).length, 3, 'the default drops only the critical instance');

  await putConfig(server, { lb: 'maglev', limit: 1, passing: true });
  const configured = await server.app.inject({ url: '/catalog/services/web?session-key=user-7' });
  t.equal(configured.headers['x-konsul-strategy'], 'maglev');
  t.equal(ids(configured.body).length, 1);
  t.ok(['web-1', 'web-2'].includes(ids(configured.body)[0]), 'passing only');
  const noKey = await server.app.inject({ url: '/catalog/services/web' });
  t.equal(noKey.statusCode, 400, "the config's strategy needs what it always needs");
  t.equal(errorCode(noKey), 'missing_session_key');

  const overridden = await server.app.inject({
    url: '/catalog/services/web?lb=weighted-round-robin&limit=0&passing=false',
  });
  t.equal(overridden.headers['x-konsul-strategy'], 'weighted-round-robin');
  t.same(ids(overridden.body).sort(), ['web-1', 'web-2', 'web-4']);
});

t.test("a config's panic threshold applies to its service only", async (t) => {
  const server = await startTestKonsul(t);
  await registerWeb(server);
  // Two of four are passing (50 %): panic below 60 % but not below the default (0, off).
  t.equal(
    (await server.app.inject({ url: '/catalog/services/web?passing=true' })).headers['x-konsul-panic'],
    undefined,
  );
  await putConfig(server, { panicThreshold: 60 });
  const panicked = await server.app.inject({ url: '/catalog/services/web?passing=true' });
  t.equal(panicked.headers['x-konsul-panic'], 'true');
  t.equal(ids(panicked.body).length, 4);
  await server.app.inject({ method: 'DELETE', url: '/catalog/services/web/config' });
  const calm = await server.app.inject({ url: '/catalog/services/web?passing=true' });
  t.equal(calm.headers['x-konsul-panic'], undefined, 'removing the config restores the default');
  t.same(ids(calm.body).sort(), ['web-1', 'web-2']);
});

t.test('a config change wakes blocking queries on the service and on the config', async (t) => {
  const server = await startTestKonsul(t);
  await registerWeb(server);
  const first = await server.app.inject({ url: '/catalog/services/web' });
  const index = Number(first.headers['x-konsul-index']);
  const onService = server.app.inject({ url: `/catalog/services/web?index=${index}&wait=30s` });
  const onConfig = server.app.inject({ url: `/catalog/services/web/config?index=${index}&wait=30s` });
  const written = json<{ index: number }>(await putConfig(server, { limit: 1 }));
  const [service, config] = await Promise.all([onService, onConfig]);
  t.equal(service.headers['x-konsul-index'], String(written.index));
  t.equal(ids(service.body).length, 1, 'the woken query is answered with the new config');
  t.equal(config.statusCode, 200);
  t.same(json<{ config: unknown }>(config).config, { limit: 1 });
});

t.test('every DNS answer for the service follows its config', async (t) => {
  const server = await startTestKonsul(t, { dns: { enabled: true } });
  const port = server.dns!.port;
  await registerWeb(server);
  const before = await dig(port, 'web.service.konsul', 'A', '+short');
  t.same(before.trim().split('\n').sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.4']);

  await putConfig(server, { passing: true });
  const passing = await dig(port, 'web.service.konsul', 'A', '+short');
  t.same(passing.trim().split('\n').sort(), ['10.0.0.1', '10.0.0.2'], 'the warning instance is gone');

  await putConfig(server, { limit: 1, lb: 'ring-hash' });
  const one = await dig(port, 'web.service.konsul', 'A', '+short');
  t.equal(one.trim().split('\n').length, 1);
  const srv = await dig(port, '_web._tcp.service.konsul', 'SRV');
  t.match(srv, /ANSWER: 1,/, 'SRV answers are capped too');
  // ring-hash keys DNS answers by the client's address: the same client gets the same answer.
  for (let i = 0; i < 5; i++) t.equal((await dig(port, 'web.service.konsul', 'A', '+short')).trim(), one.trim());

  await server.app.inject({ method: 'DELETE', url: '/catalog/services/web/config' });
  const after = await dig(port, 'web.service.konsul', 'A', '+short');
  t.same(after.trim().split('\n').sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.4']);
});

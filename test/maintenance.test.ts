import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tempDir } from './helpers/catalog.js';
import { json, startTestKonsul, type TestKonsul } from './helpers/konsul.js';

const run = promisify(execFile);

async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args]);
  return stdout;
}

async function registerWeb(server: TestKonsul, n: number): Promise<void> {
  const response = await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { id: `web-${n}`, name: 'web', address: `10.0.0.${n}`, port: 8080 },
  });
  if (response.statusCode !== 200) throw new Error(response.body);
}

const ids = (body: string) => json<{ id: string }[]>({ body }).map((instance) => instance.id);

t.test('an instance in maintenance leaves HTTP and DNS answers, survives a restart, and returns', async (t) => {
  const dataDir = tempDir(t);
  const first = await startTestKonsul(t, { dns: { enabled: true }, storage: { dataDir } });
  for (let n = 1; n <= 3; n++) await registerWeb(first, n);

  const held = await first.app.inject({
    method: 'PUT',
    url: '/catalog/instances/web-2/maintenance',
    payload: { enable: true, reason: 'deploy 42' },
  });
  t.equal(held.statusCode, 200);
  const body = json<{ id: string; index: number; maintenance: { reason: string; since: number } }>(held);
  t.equal(body.maintenance.reason, 'deploy 42');
  t.equal(held.headers['x-konsul-index'], undefined);
  const answer = await first.app.inject({ url: '/catalog/services/web' });
  t.same(ids(answer.body).sort(), ['web-1', 'web-3']);
  t.equal(answer.headers['x-konsul-index'], String(body.index), 'the change moved the service index');
  // Not even a query that turns the health filter off gets it back.
  const unfiltered = await first.app.inject({ url: '/catalog/services/web?health-filter=false' });
  t.same(ids(unfiltered.body).sort(), ['web-1', 'web-3']);
  const detail = json<{ maintenance?: { reason: string } }>(
    await first.app.inject({ url: '/catalog/instances/web-2' }),
  );
  t.equal(detail.maintenance?.reason, 'deploy 42', 'the instance itself shows why it is out');
  const a = await dig(first.dns!.port, 'web.service.konsul', 'A', '+short');
  t.same(a.trim().split('\n').sort(), ['10.0.0.1', '10.0.0.3']);
  const metrics = await first.app.inject({ url: '/metrics' });
  t.match(metrics.body, /konsul_catalog_instances_in_maintenance\{service="web"\} 1/);
  await first.close();

  const second = await startTestKonsul(t, { dns: { enabled: true }, storage: { dataDir } });
  t.same(ids((await second.app.inject({ url: '/catalog/services/web' })).body).sort(), ['web-1', 'web-3']);
  const released = await second.app.inject({
    method: 'PUT',
    url: '/catalog/instances/web-2/maintenance',
    payload: { enable: false },
  });
  t.equal(released.statusCode, 200);
  t.equal(json<{ maintenance: null }>(released).maintenance, null);
  t.same(ids((await second.app.inject({ url: '/catalog/services/web' })).body).sort(), ['web-1', 'web-2', 'web-3']);
  const back = await dig(second.dns!.port, 'web.service.konsul', 'A', '+short');
  t.same(back.trim().split('\n').sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  const after = await second.app.inject({ url: '/metrics' });
  t.notMatch(after.body, /konsul_catalog_instances_in_maintenance\{service="web"\}/, 'no series is left behind');
});

t.test('maintenance is never undone by panic mode', async (t) => {
  const server = await startTestKonsul(t, { lb: { panicThreshold: 50 } });
  await registerWeb(server, 1);
  await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { id: 'web-2', name: 'web', address: '10.0.0.2', port: 8080, checks: [{ type: 'ttl', ttl: '1m' }] },
  });
  await server.app.inject({ method: 'PUT', url: '/catalog/instances/web-1/maintenance', payload: { enable: true } });
  // The only instance in service is critical: panic returns it, but never the one held out.
  const answer = await server.app.inject({ url: '/catalog/services/web' });
  t.equal(answer.headers['x-konsul-panic'], 'true');
  t.same(ids(answer.body), ['web-2']);
});

t.test('bad maintenance requests are refused and change nothing', async (t) => {
  const server = await startTestKonsul(t);
  await registerWeb(server, 1);
  const index = server.catalog.index;
  const missing = await server.app.inject({
    method: 'PUT',
    url: '/catalog/instances/nope/maintenance',
    payload: { enable: true },
  });
  t.equal(missing.statusCode, 404);
  t.equal(json<{ error: { code: string } }>(missing).error.code, 'instance_not_found');
  const noEnable = await server.app.inject({
    method: 'PUT',
    url: '/catalog/instances/web-1/maintenance',
    payload: { reason: 'x' },
  });
  t.equal(noEnable.statusCode, 400);
  t.equal(json<{ error: { code: string } }>(noEnable).error.code, 'validation_failed');
  const control = await server.app.inject({
    method: 'PUT',
    url: '/catalog/instances/web-1/maintenance',
    payload: { enable: true, reason: 'bad\u0007' },
  });
  t.equal(control.statusCode, 400);
  t.equal(server.catalog.index, index);
  t.equal(server.catalog.instance('web-1')!.maintenance, undefined);
});

t.test("Consul's maintenance route and the critical _service_maintenance check", async (t) => {
  const server = await startTestKonsul(t);
  await registerWeb(server, 1);
  await registerWeb(server, 2);
  const missing = await server.app.inject({ method: 'PUT', url: '/v1/agent/service/maintenance/web-1' });
  t.equal(missing.statusCode, 400);
  t.equal(missing.body, 'Missing value for enable');
  const invalid = await server.app.inject({ method: 'PUT', url: '/v1/agent/service/maintenance/web-1?enable=yes' });
  t.equal(invalid.statusCode, 400);
  t.equal(invalid.body, 'Invalid value for enable: "yes"');
  const unknown = await server.app.inject({ method: 'PUT', url: '/v1/agent/service/maintenance/nope?enable=true' });
  t.equal(unknown.statusCode, 404);
  const get = await server.app.inject({ method: 'GET', url: '/v1/agent/service/maintenance/web-1?enable=true' });
  t.equal(get.statusCode, 405);

  const enabled = await server.app.inject({
    method: 'PUT',
    url: '/v1/agent/service/maintenance/web-1?enable=true&reason=kernel%20upgrade',
  });
  t.equal(enabled.statusCode, 200);
  t.equal(server.catalog.instance('web-1')!.maintenance?.reason, 'kernel upgrade');

  interface Entry {
    Service: { ID: string };
    Checks: { CheckID: string; Name: string; Status: string; Notes: string; ServiceID: string }[];
  }
  const all = json<Entry[]>(await server.app.inject({ url: '/v1/health/service/web' }));
  t.same(
    all.map((entry) => entry.Service.ID),
    ['web-1', 'web-2'],
    'without ?passing Consul lists it',
  );
  const check = all[0].Checks.find((candidate) => candidate.CheckID === '_service_maintenance:web-1');
  t.match(check, { Name: 'Service Maintenance Mode', Status: 'critical', Notes: 'kernel upgrade', ServiceID: 'web-1' });
  const passing = json<Entry[]>(await server.app.inject({ url: '/v1/health/service/web?passing' }));
  t.same(
    passing.map((entry) => entry.Service.ID),
    ['web-2'],
  );
  const critical = json<{ CheckID: string }[]>(await server.app.inject({ url: '/v1/health/state/critical' }));
  t.same(
    critical.map((entry) => entry.CheckID),
    ['_service_maintenance:web-1'],
  );
  const konsul = await server.app.inject({ url: '/catalog/services/web' });
  t.same(ids(konsul.body), ['web-2'], "Konsul's own answer leaves it out");

  const defaulted = await server.app.inject({ method: 'PUT', url: '/v1/agent/service/maintenance/web-2?enable=1' });
  t.equal(defaulted.statusCode, 200);
  t.match(server.catalog.instance('web-2')!.maintenance?.reason, /no reason was provided/);
  const disabled = await server.app.inject({ method: 'PUT', url: '/v1/agent/service/maintenance/web-1?enable=false' });
  t.equal(disabled.statusCode, 200);
  t.equal(server.catalog.instance('web-1')!.maintenance, undefined);
  const checks = json<{ CheckID: string }[]>(await server.app.inject({ url: '/v1/health/checks/web' }));
  t.same(
    checks.map((entry) => entry.CheckID),
    ['_service_maintenance:web-2'],
  );
});

t.test('explain names maintenance as the reason an instance is left out, panic or not', async (t) => {
  const server = await startTestKonsul(t);
  await registerWeb(server, 1);
  await registerWeb(server, 2);
  await server.app.inject({
    method: 'PUT',
    url: '/catalog/instances/web-1/maintenance',
    payload: { enable: true, reason: 'disk swap' },
  });
  const explained = json<{ instances: { id: string }[]; excluded: { id: string; reason: string }[] }>(
    await server.app.inject({ url: '/catalog/services/web?explain=true&health-filter=false' }),
  );
  t.same(
    explained.instances.map((instance) => instance.id),
    ['web-2'],
  );
  t.same(
    explained.excluded.map(({ id, reason }) => ({ id, reason })),
    [{ id: 'web-1', reason: 'maintenance' }],
  );
});

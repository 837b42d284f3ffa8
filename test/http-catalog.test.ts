import t from 'tap';
import type { Instance } from '../src/catalog/types.js';
import { json, startTestKonsul } from './helpers/konsul.js';

/** An instance as a service query lists it. */
type InstanceBody = Omit<Instance, 'checks' | 'createIndex' | 'modifyIndex'>;
interface ErrorBody {
  error: { code: string; message: string };
}

t.test('PUT /catalog/register answers { id, index } and the instance reads back in full', async (t) => {
  const { app } = await startTestKonsul(t);
  const registered = await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: {
      name: 'Web',
      address: '10.0.0.1',
      port: 8080,
      tags: ['v1'],
      meta: { build: '7' },
      weight: 3,
      region: 'eu',
      zone: 'eu-1a',
    },
  });
  t.equal(registered.statusCode, 200);
  t.same(json(registered), { id: 'web-10.0.0.1-8080', index: 2 });
  const read = await app.inject({ method: 'GET', url: '/catalog/instances/web-10.0.0.1-8080' });
  t.equal(read.statusCode, 200);
  t.match(json(read), {
    id: 'web-10.0.0.1-8080',
    name: 'web',
    address: '10.0.0.1',
    port: 8080,
    tags: ['v1'],
    meta: { build: '7' },
    weight: 3,
    region: 'eu',
    zone: 'eu-1a',
    status: 'passing',
    checks: [],
    createIndex: 2,
    modifyIndex: 2,
  });
  t.equal(read.headers['x-konsul-index'], '2');
  const missing = await app.inject({ method: 'GET', url: '/catalog/instances/nope' });
  t.equal(missing.statusCode, 404);
  t.equal(json<ErrorBody>(missing).error.code, 'instance_not_found');
});

t.test('registering the same id replaces the instance; DELETE removes it and a second DELETE is 404', async (t) => {
  const { app } = await startTestKonsul(t);
  await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { id: 'a', name: 'web', address: '10.0.0.1', port: 80 },
  });
  const second = await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { id: 'a', name: 'web', address: '10.0.0.2', port: 81 },
  });
  t.same(json(second), { id: 'a', index: 3 });
  const listed = json<InstanceBody[]>(await app.inject({ method: 'GET', url: '/catalog/services/web' }));
  t.same(
    listed.map((i) => [i.id, i.address, i.port]),
    [['a', '10.0.0.2', 81]],
  );
  const removed = await app.inject({ method: 'DELETE', url: '/catalog/instances/a' });
  t.same(json(removed), { id: 'a', index: 4 });
  const again = await app.inject({ method: 'DELETE', url: '/catalog/instances/a' });
  t.equal(again.statusCode, 404);
  t.same(json(again), { error: { code: 'instance_not_found', message: 'No instance with id "a"' } });
});

t.test('service queries filter by name, every tag and every meta pair, and carry X-Konsul-Index', async (t) => {
  const { app } = await startTestKonsul(t);
  const register = (payload: object) => app.inject({ method: 'PUT', url: '/catalog/register', payload });
  await register({ id: 'a', name: 'web', address: '10.0.0.1', port: 80, tags: ['v1', 'eu'], meta: { build: '7' } });
  await register({ id: 'b', name: 'web', address: '10.0.0.2', port: 80, tags: ['v2', 'eu'], meta: { build: '8' } });
  await register({ id: 'c', name: 'api', address: '10.0.0.3', port: 80, tags: ['eu'] });
  const ids = async (url: string) =>
    json<InstanceBody[]>(await app.inject({ method: 'GET', url }))
      .map((i) => i.id)
      .sort();
  t.same(await ids('/catalog/services?name=web'), ['a', 'b']);
  t.same(await ids('/catalog/services/WEB'), ['a', 'b'], 'names are case-insensitive');
  t.same(await ids('/catalog/services?name=web&tag=eu&tag=v2'), ['b']);
  t.same(await ids('/catalog/services?tag=eu'), ['a', 'b', 'c']);
  t.same(await ids('/catalog/services/web?meta=build:7'), ['a']);
  t.same(await ids('/catalog/services/nothing'), []);
  const response = await app.inject({ method: 'GET', url: '/catalog/services/web' });
  t.equal(response.headers['x-konsul-index'], '3', "the service's own index");
  t.equal(response.headers['x-konsul-strategy'], 'round-robin');
  const all = await app.inject({ method: 'GET', url: '/catalog/services' });
  t.equal(all.headers['x-konsul-index'], '4', "the catalog's index across services");
  const instance = json<InstanceBody[]>(response)[0];
  t.same(Object.keys(instance).sort(), [
    'address',
    'id',
    'meta',
    'name',
    'port',
    'region',
    'status',
    'tags',
    'weight',
    'zone',
  ]);
});

t.test('the service listing counts instances by health', async (t) => {
  const { app } = await startTestKonsul(t, { health: { enabled: false } });
  await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '10.0.0.1', port: 80 },
  });
  await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '10.0.0.2', port: 80, checks: [{ type: 'ttl', ttl: '30s' }] },
  });
  await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'api', address: '10.0.0.3', port: 80 },
  });
  const listed = await app.inject({ method: 'GET', url: '/catalog/service-names' });
  t.same(json(listed), [
    { name: 'api', index: 4, instances: 1, passing: 1, warning: 0, critical: 0 },
    { name: 'web', index: 3, instances: 2, passing: 1, warning: 0, critical: 1 },
  ]);
  t.equal(listed.headers['x-konsul-index'], '4');
});

t.test('a blocking query is answered when its service changes, with the new index', async (t) => {
  const { app } = await startTestKonsul(t);
  const first = await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '10.0.0.1', port: 80 },
  });
  const { index } = json<{ index: number }>(first);
  let answered = false;
  const held = app.inject({ method: 'GET', url: `/catalog/services/web?index=${index}&wait=30s` }).then((response) => {
    answered = true;
    return response;
  });
  await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'api', address: '10.0.0.9', port: 80 },
  });
  await new Promise((resolve) => setTimeout(resolve, 30));
  t.equal(answered, false, 'a change to another service does not answer it');
  await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '10.0.0.2', port: 80 },
  });
  const response = await held;
  t.equal(response.statusCode, 200);
  t.equal(response.headers['x-konsul-index'], '4');
  t.equal(json<unknown[]>(response).length, 2);
});

t.test('a blocking query with nothing new answers when its wait ends, with the same index', async (t) => {
  const { app } = await startTestKonsul(t, {}, { random: () => 0 });
  const first = await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '10.0.0.1', port: 80 },
  });
  const { index } = json<{ index: number }>(first);
  const started = Date.now();
  const response = await app.inject({ method: 'GET', url: `/catalog/services/web?index=${index}&wait=150ms` });
  const waited = Date.now() - started;
  t.ok(waited >= 140, `waited ${waited} ms`);
  t.equal(response.headers['x-konsul-index'], String(index));
  const stale = Date.now();
  await app.inject({ method: 'GET', url: `/catalog/services/web?index=${index - 1}&wait=10s` });
  t.ok(Date.now() - stale < 5000, 'an index already passed answers at once');
});

t.test('the service-names listing blocks on the whole catalog', async (t) => {
  const { app } = await startTestKonsul(t);
  const empty = await app.inject({ method: 'GET', url: '/catalog/service-names' });
  t.equal(empty.headers['x-konsul-index'], '1', 'an empty catalog reports 1, never 0');
  const held = app.inject({ method: 'GET', url: '/catalog/service-names?index=1&wait=30s' });
  await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '10.0.0.1', port: 80 },
  });
  const response = await held;
  t.equal(response.headers['x-konsul-index'], '2', 'the first write wakes a watcher of the empty catalog');
  t.same(
    json<{ name: string }[]>(response).map((s) => s.name),
    ['web'],
  );
});

t.test('thousands of blocking queries wait without polling and all wake on one write', async (t) => {
  const server = await startTestKonsul(t);
  const { app, catalog } = server;
  await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '10.0.0.1', port: 80 },
  });
  const held = Array.from({ length: 2000 }, () =>
    app.inject({ method: 'GET', url: '/catalog/services/web?index=2&wait=60s' }),
  );
  while (catalog.waiting < 2000) await new Promise((resolve) => setTimeout(resolve, 5));
  t.equal(catalog.waiting, 2000);
  await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '10.0.0.2', port: 80 },
  });
  const responses = await Promise.all(held);
  t.ok(responses.every((response) => response.headers['x-konsul-index'] === '3'));
  t.equal(catalog.waiting, 0);
});

t.test('DELETE with Content-Type: application/json and no body removes the instance, on both routes', async (t) => {
  const { app, catalog } = await startTestKonsul(t);
  const register = (port: number) =>
    app.inject({ method: 'PUT', url: '/catalog/register', payload: { name: 'web', address: '10.0.0.1', port } });
  for (const port of [81, 82, 83, 84]) t.equal((await register(port)).statusCode, 200);
  const cases: [url: string, headers: Record<string, string>][] = [
    ['/catalog/instances/web-10.0.0.1-81', { 'content-type': 'application/json' }],
    ['/catalog/instances/web-10.0.0.1-82', { 'content-type': 'application/json', 'content-length': '0' }],
    ['/deregister/web-10.0.0.1-83', { 'content-type': 'application/json' }],
    ['/deregister/web-10.0.0.1-84', { 'content-type': 'application/json', 'content-length': '0' }],
  ];
  for (const [url, headers] of cases) {
    const response = await app.inject({ method: 'DELETE', url, headers });
    t.equal(response.statusCode, 200, `${url} ${JSON.stringify(headers)}`);
    t.equal(catalog.instance(url.split('/').pop()!), undefined, 'and the instance is gone');
  }
  const malformed = await app.inject({
    method: 'DELETE',
    url: '/catalog/instances/web-10.0.0.1-81',
    headers: { 'content-type': 'application/json' },
    payload: '{"oops":',
  });
  t.equal(json<ErrorBody>(malformed).error.code, 'malformed_json', 'a body that is there is still parsed');
});

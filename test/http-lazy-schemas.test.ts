import Fastify from 'fastify';
import t from 'tap';
import { compileAllSchemas, lazySchemas, schemaCompilations, useLazySchemas } from '../src/http/lazy-schemas.js';
import { json, startTestKonsul } from './helpers/konsul.js';

// Route schemas compile on first use (src/http/lazy-schemas.ts). Start-up used to prove that every
// schema compiles; this file proves it instead, for every route a full server has.

t.test('every route schema of a full server compiles', async (t) => {
  const server = await startTestKonsul(t, { dns: { enabled: true } });
  const first = compileAllSchemas(server.app);
  // Some 80 routes with a querystring, params, body or response schema each; a server that
  // compiled nothing lazily would have nothing pending here.
  t.ok(first > 80, `compiled ${first} pending schemas`);
  t.equal(compileAllSchemas(server.app), 0, 'nothing is left pending');

  // Compiled ahead of use, the schemas still validate and serialize.
  const refused = await server.app.inject({ method: 'GET', url: '/catalog/services?limit=abc' });
  t.equal(refused.statusCode, 400);
  t.equal(json<{ error: { code: string } }>(refused).error.code, 'validation_failed');
  const live = await server.app.inject({ method: 'GET', url: '/health/live' });
  t.equal(live.statusCode, 200);
});

t.test('a route compiles on its first request and validates as before', async (t) => {
  const server = await startTestKonsul(t);
  const refused = await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '10.0.0.1', port: '80' },
  });
  t.equal(refused.statusCode, 400, 'a string port is refused by the body schema');
  t.match(json<{ error: { message: string } }>(refused).error.message, /port/);
  const accepted = await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '10.0.0.1', port: 80 },
  });
  t.equal(accepted.statusCode, 200, accepted.body);
});

t.test('a broken schema fails compileAllSchemas, and its route fails only when used', async (t) => {
  const schemas = lazySchemas();
  const app = Fastify({ schemaController: { compilersFactory: { buildSerializer: schemas.buildSerializer } } });
  t.teardown(() => app.close());
  useLazySchemas(app, schemas);
  app.get('/fine', { schema: { querystring: { type: 'object', properties: { n: { type: 'integer' } } } } }, () => 'ok');
  app.get(
    '/broken',
    { schema: { querystring: { type: 'object', properties: { n: { type: 'no-such-type' } } } } },
    () => 'x',
  );
  await app.ready();
  t.equal((await app.inject({ url: '/fine?n=1' })).statusCode, 200, 'start-up compiled nothing that could fail');
  t.equal((await app.inject({ url: '/broken?n=1' })).statusCode, 500);
  t.throws(() => compileAllSchemas(app), /no-such-type|type/);
});

t.test('the validators that pick an anyOf branch compile with the serializer, not on the first answer', async (t) => {
  // A branch Ajv cannot compile shows when it compiles: with its serializer in compileAllSchemas,
  // or, as fast-json-stringify does by default, on the first answer that reaches it, a compile on
  // the request's path (26 ms for the first instance list). \p{Foo} passes the schema check but
  // is no pattern in Ajv's unicode mode.
  const schemas = lazySchemas();
  const app = Fastify({ schemaController: { compilersFactory: { buildSerializer: schemas.buildSerializer } } });
  t.teardown(() => app.close());
  useLazySchemas(app, schemas);
  const union = { anyOf: [{ type: 'string', pattern: '\\p{Foo}' }, { type: 'null' }] };
  app.get('/union', { schema: { response: { 200: { type: 'object', properties: { region: union } } } } }, () => ({
    region: null,
  }));
  await app.ready();
  t.throws(() => compileAllSchemas(app), /Invalid regular expression/, 'the branch compiles with its serializer');
});

t.test('http.compileSchemas "startup" (the default) compiles every route before the server listens', async (t) => {
  const server = await startTestKonsul(t, { http: { compileSchemas: 'startup' } });
  // Nothing left for a first request to compile: none of them can stall the event loop for it.
  t.equal(compileAllSchemas(server.app), 0, 'nothing is pending once the server listens');
  const before = schemaCompilations();
  // The answers that serialize outside their route's own schema too: instance lists, an explained answer.
  const registered = await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { id: 'w1', name: 'web', address: '10.0.0.1', port: 80 },
  });
  t.equal(registered.statusCode, 200, registered.body);
  for (const url of [
    '/catalog/services?name=web&lb=ring-hash&session-key=u1&limit=1',
    '/catalog/services/web?explain=true',
    '/services/web',
    '/v1/health/service/web',
    '/v1/catalog/service/web',
  ]) {
    const answer = await server.app.inject({ method: 'GET', url });
    t.equal(answer.statusCode, 200, `${url}: ${answer.body}`);
  }
  t.equal(schemaCompilations(), before, 'serving compiled nothing');
});

import t from 'tap';
import { json, startTestKonsul } from './helpers/konsul.js';

interface ErrorBody {
  error: { code: string; message: string };
}

const valid = { name: 'web', address: '10.0.0.1', port: 8080 };

t.test('every invalid registration is a 400 naming the field, and changes nothing', async (t) => {
  const { app, catalog } = await startTestKonsul(t);
  const before = catalog.index;
  const cases: [string, unknown, RegExp][] = [
    ['missing name', { address: '10.0.0.1', port: 1 }, /body\.name: is required/],
    ['name with a dot', { ...valid, name: 'web.v2' }, /body\.name/],
    ['name too long', { ...valid, name: 'a'.repeat(64) }, /body\.name/],
    ['name with a leading hyphen', { ...valid, name: '-web' }, /body\.name/],
    ['empty name', { ...valid, name: '' }, /body\.name/],
    ['port zero', { ...valid, port: 0 }, /body\.port: must be >= 1/],
    ['port too high', { ...valid, port: 65536 }, /body\.port: must be <= 65535/],
    ['port as a string', { ...valid, port: '8080' }, /body\.port: must be integer/],
    ['port fractional', { ...valid, port: 80.5 }, /body\.port/],
    ['address missing', { name: 'web', port: 1 }, /body\.address: is required/],
    ['address nonsense', { ...valid, address: 'not an address!' }, /address/],
    ['address too long', { ...valid, address: 'a'.repeat(300) }, /body\.address/],
    ['weight zero', { ...valid, weight: 0 }, /body\.weight/],
    ['weight over 1000', { ...valid, weight: 1001 }, /body\.weight/],
    ['weight fractional', { ...valid, weight: 1.5 }, /body\.weight/],
    ['tags not an array', { ...valid, tags: 'v1' }, /body\.tags/],
    ['too many tags', { ...valid, tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }, /body\.tags/],
    ['an empty tag', { ...valid, tags: [''] }, /body\.tags\[0\]/],
    ['a tag with a control character', { ...valid, tags: ['a\u0000b'] }, /body\.tags\[0\]/],
    ['meta not an object', { ...valid, meta: ['a'] }, /body\.meta/],
    ['meta with a number value', { ...valid, meta: { a: 1 } }, /body\.meta\.a/],
    [
      'too many meta pairs',
      { ...valid, meta: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) },
      /body\.meta/,
    ],
    ['meta key with a space', { ...valid, meta: { 'a b': 'c' } }, /body\.meta/],
    ['an unknown field', { ...valid, weigth: 2 }, /body\.weigth: is not a known field/],
    ['id with a slash', { ...valid, id: 'a/b' }, /body\.id/],
    ['region with a space', { ...valid, region: 'eu west' }, /body\.region/],
    ['a check of no known type', { ...valid, checks: [{ type: 'script' }] }, /body\.checks\[0\]\.type/],
    [
      'a check with a bad duration',
      { ...valid, checks: [{ type: 'ttl', ttl: 'ten seconds' }] },
      /body\.checks\[0\]\.ttl/,
    ],
    [
      'a check with a negative threshold',
      { ...valid, checks: [{ type: 'ttl', ttl: '1s', failuresBeforeCritical: -1 }] },
      /body\.checks\[0\]\.failuresBeforeCritical/,
    ],
    ['an http check without its URL', { ...valid, checks: [{ type: 'http', interval: '1s' }] }, /checks\[0\]\.http/],
    [
      'an id derived from a long name and address',
      {
        name: 'a'.repeat(63),
        address: `${'h'.repeat(60)}.${'h'.repeat(60)}.${'h'.repeat(60)}.${'h'.repeat(60)}.example`,
        port: 65535,
      },
      /id derived from name, address and port is longer than 256/,
    ],
    [
      'a check id derived from a long instance id',
      { ...valid, id: 'i'.repeat(250), checks: [{ type: 'ttl', ttl: '1s' }] },
      /check id .* is longer than 256/,
    ],
    [
      'an http check header HTTP cannot carry',
      { ...valid, checks: [{ type: 'http', http: 'http://127.0.0.1/', headers: { 'x-a': '€' } }] },
      /body\.checks\[0\]\.headers\.x-a/,
    ],
    ['a body that is an array', [valid], /body/],
  ];
  for (const [what, payload, message] of cases) {
    const response = await app.inject({ method: 'PUT', url: '/catalog/register', payload: payload as object });
    t.equal(response.statusCode, 400, what);
    const body = json<ErrorBody>(response);
    t.match(body.error.code, /^(validation_failed|invalid_check|invalid_duration)$/, what);
    t.match(body.error.message, message, what);
  }
  t.equal(catalog.index, before, 'nothing was written');
});

t.test(
  'malformed JSON, prototype-pollution keys, wrong media types and oversize bodies are refused in the standard shape',
  async (t) => {
    const { app, catalog } = await startTestKonsul(t, { http: { bodyLimit: 2048 } });
    const before = catalog.index;
    const send = (payload: string, contentType = 'application/json') =>
      app.inject({ method: 'PUT', url: '/catalog/register', payload, headers: { 'content-type': contentType } });
    const malformed = await send('{"name": "web",');
    t.equal(malformed.statusCode, 400);
    t.equal(json<ErrorBody>(malformed).error.code, 'malformed_json');
    const empty = await send('');
    t.equal(empty.statusCode, 400);
    t.equal(json<ErrorBody>(empty).error.code, 'malformed_json');
    const polluted = await send('{"name":"web","address":"10.0.0.1","port":80,"__proto__":{"admin":true}}');
    t.equal(polluted.statusCode, 400);
    t.equal(json<ErrorBody>(polluted).error.code, 'malformed_json');
    const constructor = await send(
      '{"name":"web","address":"10.0.0.1","port":80,"meta":{"constructor":{"prototype":{"x":"1"}}}}',
    );
    t.equal(constructor.statusCode, 400);
    const scalar = await send('"web"');
    t.equal(scalar.statusCode, 400);
    t.match(json<ErrorBody>(scalar).error.message, /^body: must be object/);
    const text = await send('name=web', 'text/plain');
    t.equal(text.statusCode, 415);
    t.equal(json<ErrorBody>(text).error.code, 'unsupported_media_type');
    const large = await send(JSON.stringify({ ...valid, tags: ['x'.repeat(4000)] }));
    t.equal(large.statusCode, 413);
    t.same(json(large), {
      error: { code: 'body_too_large', message: 'Request body is larger than the limit of 2048 bytes' },
    });
    t.equal(catalog.index, before);
    t.equal(({} as Record<string, unknown>).admin, undefined, 'no prototype was polluted');
  },
);

t.test('bad query parameters are a 400 naming the parameter', async (t) => {
  const { app } = await startTestKonsul(t);
  await app.inject({ method: 'PUT', url: '/catalog/register', payload: valid });
  const cases: [string, RegExp][] = [
    ['/catalog/services/web?limit=-1', /querystring\.limit/],
    ['/catalog/services/web?limit=abc', /querystring\.limit/],
    ['/catalog/services/web?limit=1.5', /querystring\.limit/],
    ['/catalog/services/web?index=-3', /querystring\.index/],
    ['/catalog/services/web?wait=forever', /querystring\.wait/],
    ['/catalog/services/web?unknown=1', /querystring\.unknown: is not a known field/],
    ['/catalog/services/web?health-filter=maybe', /querystring\.health-filter/],
    ['/catalog/services?name=web&name=api', /querystring\.name/],
    ['/catalog/services?name=bad.name', /querystring\.name/],
    ['/catalog/services/web?meta=nocolon', /querystring\.meta/],
    ['/catalog/services/web?meta=a:1&meta=a:2', /key "a" is given twice/],
    ['/catalog/services/web?client-ip=not-an-ip&lb=ip-hash', /client-ip must be an IPv4 or IPv6 address/],
    ['/catalog/services/bad_name', /params\.name/],
  ];
  for (const [url, message] of cases) {
    const response = await app.inject({ method: 'GET', url });
    t.equal(response.statusCode, 400, url);
    t.match(json<ErrorBody>(response).error.message, message, url);
  }
});

t.test('an unknown route is a 404 in the standard shape', async (t) => {
  const { app } = await startTestKonsul(t);
  const response = await app.inject({ method: 'GET', url: '/v2/nothing?x=1' });
  t.equal(response.statusCode, 404);
  t.same(json(response), { error: { code: 'route_not_found', message: 'No route for GET /v2/nothing' } });
  const wrongMethod = await app.inject({ method: 'POST', url: '/catalog/register', payload: valid });
  t.equal(wrongMethod.statusCode, 404);
  t.equal(json<ErrorBody>(wrongMethod).error.code, 'route_not_found');
});

t.test('load reports are validated and a report for an unknown instance is 404', async (t) => {
  const { app } = await startTestKonsul(t);
  const { id } = json<{ id: string }>(await app.inject({ method: 'PUT', url: '/catalog/register', payload: valid }));
  const ok = await app.inject({
    method: 'PUT',
    url: `/catalog/instances/${id}/load`,
    payload: { connections: 4, latencyMs: 12 },
  });
  t.equal(ok.statusCode, 200);
  t.match(json(ok), { id, connections: 4 });
  for (const payload of [
    {},
    { connections: -1 },
    { connections: 1.5 },
    { latencyMs: -2 },
    { connections: '3' },
    { extra: 1 },
  ]) {
    const response = await app.inject({ method: 'PUT', url: `/catalog/instances/${id}/load`, payload });
    t.equal(response.statusCode, 400, JSON.stringify(payload));
  }
  const missing = await app.inject({ method: 'PUT', url: '/catalog/instances/nope/load', payload: { connections: 1 } });
  t.equal(missing.statusCode, 404);
  t.equal(json<ErrorBody>(missing).error.code, 'instance_not_found');
});

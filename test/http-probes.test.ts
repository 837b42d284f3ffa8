import t from 'tap';
import { json, startTestKonsul } from './helpers/konsul.js';

t.test('liveness and readiness answer once the server is up, and readiness fails while it shuts down', async (t) => {
  const server = await startTestKonsul(t);
  t.same(json(await server.app.inject({ method: 'GET', url: '/health/live' })), { status: 'live' });
  t.same(json(await server.app.inject({ method: 'GET', url: '/health/ready' })), { status: 'ready' });
  const closing = server.close();
  await closing;
  t.equal(server.catalog.isOpen, false, 'the database is closed after shutdown');
});

t.test('GET /metrics exposes Prometheus text with the HTTP, catalog and process families', async (t) => {
  const { app } = await startTestKonsul(t);
  await app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '10.0.0.1', port: 80 },
  });
  await app.inject({ method: 'GET', url: '/catalog/services/web' });
  const response = await app.inject({ method: 'GET', url: '/metrics' });
  t.equal(response.statusCode, 200);
  t.match(response.headers['content-type'], /^text\/plain/);
  t.match(response.body, /konsul_http_requests_total\{method="PUT",route="\/catalog\/register",status="200"\} 1/);
  t.match(
    response.body,
    /konsul_http_request_duration_seconds_bucket\{le="[^"]+",method="GET",route="\/catalog\/services\/:name"\}/,
  );
  t.match(response.body, /konsul_catalog_instances\{status="passing"\} 1/);
  t.match(response.body, /konsul_catalog_services 1/);
  t.match(response.body, /konsul_catalog_index 2/);
  t.match(response.body, /konsul_blocking_queries 0/);
  t.match(response.body, /konsul_build_info\{version="[^"]+",node="v\d+/);
  t.match(response.body, /konsul_process_resident_memory_bytes/);
  t.match(response.body, /konsul_lb_selections_total\{service="web",strategy="round-robin",result="ok"\} 1/);
  t.notMatch(response.body, /route="\/catalog\/services\/web"/, 'labels are route templates, never raw URLs');
});

t.test('GC pauses are counted in millisecond buckets, fine enough to hold against a 5 ms stall', async (t) => {
  const { app } = await startTestKonsul(t);
  const scavenged = /konsul_nodejs_gc_duration_seconds_bucket\{le="([^"]+)",kind="minor"\}/g;
  const minorSeen = (text: string): boolean => text.includes('kind="minor"}');
  let body = '';
  let sink = 0;
  // Short-lived garbage until a minor collection has been observed (each round allocates some
  // 16 MB, more than a young generation holds). The observer reports on a later turn.
  for (let round = 0; round < 50 && !minorSeen(body); round++) {
    for (let i = 0; i < 1 << 18; i++) sink += new Array<number>(8).fill(i).length;
    await new Promise((resolveTurn) => setImmediate(resolveTurn));
    body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  }
  t.ok(sink > 0 && minorSeen(body), 'a minor collection was observed');
  const bounds = [...body.matchAll(scavenged)].map((match) => match[1]);
  t.same(bounds, ['0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.5', '1', '+Inf']);
});

t.test('every response echoes X-Request-Id, honouring a sane one the client sent', async (t) => {
  const server = await startTestKonsul(t);
  const sent = await server.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'abc-123' } });
  t.equal(sent.headers['x-request-id'], 'abc-123');
  const generated = await server.app.inject({ method: 'GET', url: '/health/live' });
  t.match(generated.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  const hostile = await server.app.inject({
    method: 'GET',
    url: '/health/live',
    headers: { 'x-request-id': 'a b\u0001c' },
  });
  t.match(hostile.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'an unsafe id is replaced');
  const line = server.logs
    .map((entry) => JSON.parse(entry) as Record<string, unknown>)
    .find((entry) => entry.reqId === 'abc-123');
  t.match(line, { msg: 'request', method: 'GET', route: '/health/live', status: 200, ms: Number });
  t.equal(server.logs.filter((entry) => entry.includes('"abc-123"')).length, 1, 'one line per request');
});

t.test('a request that arrives while the server drains gets a 503 shutting_down in the standard shape', async (t) => {
  const server = await startTestKonsul(t);
  await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '10.0.0.1', port: 80 },
  });
  // A held blocking query keeps the drain open long enough to send another request into it.
  const held = server.app.inject({ method: 'GET', url: '/catalog/services/web?index=2&wait=5s' });
  while (server.catalog.waiting === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const closing = server.close();
  const late = await server.app.inject({ method: 'GET', url: '/catalog/services/web' });
  t.equal(late.statusCode, 503);
  t.same(json(late), { error: { code: 'shutting_down', message: 'Konsul is shutting down' } });
  t.equal((await held).statusCode, 200, 'the held query is still answered');
  await closing;
});

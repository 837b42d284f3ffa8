import t from 'tap';
import diagnostics_channel from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { HttpProber, httpTarget, statusForCode } from '../src/health/http-check.js';
import { startHttpTarget, startTcpListener } from './helpers/health-targets.js';
import { VirtualClock } from './helpers/virtual-clock.js';

function prober(t: { teardown(fn: () => unknown): void }, outputBytes = 4096, clock?: VirtualClock): HttpProber {
  const created = clock === undefined ? new HttpProber(outputBytes) : new HttpProber(outputBytes, clock);
  t.teardown(() => created.close());
  return created;
}

const never = new AbortController().signal;

t.test('2xx is passing, 429 warning, and every other code critical, redirects included', async (t) => {
  t.equal(statusForCode(200), 'passing');
  t.equal(statusForCode(204), 'passing');
  t.equal(statusForCode(299), 'passing');
  t.equal(statusForCode(429), 'warning');
  for (const code of [100, 301, 302, 304, 400, 404, 500, 503])
    t.equal(statusForCode(code), 'critical', `${code} is critical`);
});

t.test('the note is the status line and the start of the body', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200, body: 'ready' });
  const result = await prober(t).run(httpTarget(target.url, 'GET', undefined), 1000, never);
  t.same(result, { status: 'passing', note: `HTTP GET ${target.url}: 200 OK Output: ready` });
});

t.test('an empty body leaves only the status line', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 503, body: '' });
  const result = await prober(t).run(httpTarget(target.url, 'GET', undefined), 1000, never);
  t.same(result, { status: 'critical', note: `HTTP GET ${target.url}: 503 Service Unavailable` });
});

t.test('outputBytes 0 keeps no body in the note', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200, body: 'ignored' });
  const result = await prober(t, 0).run(httpTarget(target.url, 'GET', undefined), 1000, never);
  t.equal(result.note, `HTTP GET ${target.url}: 200 OK`);
});

t.test('a redirect is not followed and is critical', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 302, headers: { location: '/elsewhere' } });
  const result = await prober(t).run(httpTarget(target.url, 'GET', undefined), 1000, never);
  t.equal(result.status, 'critical');
  t.match(result.note, /302 Found$/);
  t.equal(target.requests.length, 1, 'one request: the redirect was not followed');
});

t.test('the method and headers of the check are sent, over the defaults', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200 });
  await prober(t).run(
    httpTarget(target.url, 'HEAD', { Authorization: 'Bearer s3cret', 'User-Agent': 'custom' }),
    1000,
    never,
  );
  t.equal(target.requests[0].method, 'HEAD');
  t.equal(target.requests[0].headers.authorization, 'Bearer s3cret');
  t.equal(target.requests[0].headers['user-agent'], 'custom', "the check's header replaces the default");
  t.equal(target.requests[0].headers.connection, 'close', 'no keep-alive: each run opens its own connection');
});

t.test('a password in the URL is hidden in the note', async (t) => {
  const target = httpTarget('http://user:pa55@127.0.0.1:1/health', 'GET', undefined);
  t.equal(target.label, 'HTTP GET http://user:***@127.0.0.1:1/health');
  t.equal(target.url.password, 'pa55', 'the request itself keeps it');
});

t.test('a target that never answers is critical at the timeout', async (t) => {
  const target = await startHttpTarget(t, { kind: 'hang' });
  const clock = new VirtualClock();
  const started = clock.now();
  let finished = false;
  const running = prober(t, 4096, clock)
    .run(httpTarget(target.url, 'GET', undefined), 150, never)
    .finally(() => (finished = true));
  await target.until('the request to arrive', () => target.requests.length === 1);
  await clock.advance(149);
  t.notOk(finished, 'still waiting a millisecond before the timeout');
  await clock.advance(1);
  const result = await running;
  const took = clock.now() - started;
  t.same(result, { status: 'critical', note: `HTTP GET ${target.url}: timed out after 150ms` });
  t.ok(took >= 145 && took < 3000, `took ${took} ms`);
});

t.test('a target that stops mid-response is critical at the timeout', async (t) => {
  const target = await startHttpTarget(t, { kind: 'hang-mid-response' });
  const clock = new VirtualClock();
  const running = prober(t, 4096, clock).run(httpTarget(target.url, 'GET', undefined), 150, never);
  await target.until('the request to arrive', () => target.requests.length === 1);
  await clock.advance(150);
  const result = await running;
  t.equal(result.status, 'critical');
  t.match(result.note, /timed out after 150ms$/);
});

t.test('an endless body is read up to outputBytes, then the socket is closed', async (t) => {
  const target = await startHttpTarget(t, { kind: 'endless' });
  const started = Date.now();
  // The timeout sits far above the bound, so a run that waits for it cannot pass for a slow one.
  const result = await prober(t, 64).run(httpTarget(target.url, 'GET', undefined), 10_000, never);
  t.equal(result.status, 'passing');
  t.equal(result.note, `HTTP GET ${target.url}: 200 OK Output: ${'x'.repeat(64)}`);
  const took = Date.now() - started;
  t.ok(took < 3000, `it did not wait for the timeout (took ${took} ms)`);
});

t.test('a refused connection is critical and the note says why', async (t) => {
  const listener = await startTcpListener(t);
  await listener.close();
  const url = `http://127.0.0.1:${listener.port}/`;
  const result = await prober(t).run(httpTarget(url, 'GET', undefined), 1000, never);
  t.equal(result.status, 'critical');
  t.match(result.note, new RegExp(`^HTTP GET ${url}: connect ECONNREFUSED`));
});

t.test('aborting a run ends it at once and closes its socket', async (t) => {
  const target = await startHttpTarget(t, { kind: 'hang' });
  const abort = new AbortController();
  // The run's own sockets, caught as they are created. Counting the process's TCP handles would
  // also count the target's side of the connection and sockets of earlier tests still closing,
  // which come and go on their own schedule. A socket is closed once it emits 'close' (its handle
  // is released then; `destroyed` is set before that).
  const opened: { closed: boolean }[] = [];
  const onSocket = (message: unknown) => {
    const entry = { closed: false };
    opened.push(entry);
    (message as { socket: Socket }).socket.once('close', () => (entry.closed = true));
  };
  diagnostics_channel.subscribe('net.client.socket', onSocket);
  t.teardown(() => diagnostics_channel.unsubscribe('net.client.socket', onSocket));
  const running = prober(t).run(httpTarget(target.url, 'GET', undefined), 5000, abort.signal);
  await target.until('the request to arrive', () => target.requests.length > 0);
  abort.abort();
  const result = await running;
  t.same(result, { status: 'critical', note: `HTTP GET ${target.url}: check cancelled` });
  t.equal(opened.length, 1, 'the run opened one connection');
  t.ok(
    opened.every((entry) => entry.closed),
    'the client socket is closed when the run resolves',
  );
});

t.test('a signal aborted before the run starts cancels it without a request', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200 });
  const abort = new AbortController();
  abort.abort();
  const result = await prober(t).run(httpTarget(target.url, 'GET', undefined), 1000, abort.signal);
  t.equal(result.status, 'critical');
  t.match(result.note, /check cancelled$/);
  t.equal(target.requests.length, 0);
});

/**
 * The HTTP server's bounds on connections, over real sockets and scaled down: http.maxConnections
 * with idle connections shed to make room, and the per-stage timeouts (headers, request body,
 * keep-alive, idle) that no trickle of bytes extends. Blocking queries must outlive them all.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import type { Registry } from 'prom-client';
import { httpCall } from '../helpers/fault-targets.js';
import { startTestKonsul } from '../helpers/konsul.js';
import { until } from '../helpers/wait.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A raw client connection that records what the server sent and when it closed. */
interface RawClient {
  socket: Socket;
  received: string;
  closed: Promise<void>;
  isClosed: boolean;
}

function openRaw(t: Teardown, port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const client: RawClient = { socket, received: '', isClosed: false, closed: Promise.resolve() };
    client.closed = new Promise<void>((done) =>
      socket.once('close', () => {
        client.isClosed = true;
        done();
      }),
    );
    socket.on('data', (chunk: Buffer) => (client.received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve(client));
    socket.once('error', reject);
    t.teardown(() => socket.destroy());
  });
}

/** Rejects when `closed` has not settled in `ms`: the bound under test is seconds; Node's defaults are minutes. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still open after ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function metricValue(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return Number.NaN;
  return (await metric.get()).values.reduce((sum, sample) => sum + sample.value, 0);
}

const GUARD_MS = 10_000;

t.test('a connection that never sends a byte is answered 408 and closed after http.headersTimeout', async (t) => {
  const server = await startTestKonsul(t, { http: { headersTimeout: '300ms', requestTimeout: '1s' } });
  const client = await openRaw(t, server.httpPort);
  await within(client.closed, GUARD_MS, 'silent connection');
  t.match(client.received, /^HTTP\/1\.1 408 /);
  t.match(client.received, /"code":"request_timeout"/);
});

t.test('headers trickled a byte at a time do not extend http.headersTimeout (slowloris)', async (t) => {
  const server = await startTestKonsul(t, { http: { headersTimeout: '400ms', requestTimeout: '1s' } });
  const client = await openRaw(t, server.httpPort);
  client.socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\n');
  let sent = 0;
  const trickle = setInterval(() => {
    if (!client.isClosed) client.socket.write('X'.repeat(1));
    sent++;
  }, 40);
  t.teardown(() => clearInterval(trickle));
  await within(client.closed, GUARD_MS, 'slowloris connection');
  clearInterval(trickle);
  t.ok(sent >= 5, `bytes kept coming (${sent}) and still did not extend the deadline`);
  t.match(client.received, /^HTTP\/1\.1 408 /);
});

t.test('a body trickled a byte at a time is cut at http.requestTimeout and writes nothing', async (t) => {
  const server = await startTestKonsul(t, { http: { headersTimeout: '300ms', requestTimeout: '600ms' } });
  const before = server.catalog.index;
  const client = await openRaw(t, server.httpPort);
  const body = JSON.stringify({ name: 'slow', address: '10.0.0.1', port: 80 });
  client.socket.write(
    `PUT /catalog/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  let offset = 0;
  const trickle = setInterval(() => {
    if (!client.isClosed && offset < body.length - 1) client.socket.write(body[offset++]);
  }, 40);
  t.teardown(() => clearInterval(trickle));
  await within(client.closed, GUARD_MS, 'slow body');
  clearInterval(trickle);
  t.ok(offset >= 5, `${offset} body bytes arrived without extending the deadline`);
  t.match(client.received, /^HTTP\/1\.1 408 /);
  t.equal(server.catalog.index, before, 'nothing was registered');
});

t.test('a kept-alive connection is closed once idle for http.keepAliveTimeout', async (t) => {
  const server = await startTestKonsul(t, { http: { keepAliveTimeout: '100ms' } });
  const client = await openRaw(t, server.httpPort);
  client.socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n');
  await within(client.closed, GUARD_MS, 'kept-alive connection');
  t.match(client.received, /^HTTP\/1\.1 200 /, 'the request was answered first');
  t.notMatch(client.received, /Connection: close/i, 'and the connection was kept alive, not closed with the answer');
});

t.test('a blocking query outlives http.idleTimeout, http.requestTimeout and http.headersTimeout', async (t) => {
  const server = await startTestKonsul(t, {
    http: { headersTimeout: '200ms', requestTimeout: '200ms', idleTimeout: '200ms' },
  });
  const index = server.catalog.index;
  const answer = await httpCall(server.httpPort, 'GET', `/catalog/service-names?index=${index}&wait=1200ms`);
  t.equal(answer.status, 200, 'answered when its wait ended, not cut by a timeout');
  t.equal(answer.headers['x-konsul-index'], String(index));
  const consul = await httpCall(server.httpPort, 'GET', `/v1/catalog/services?index=${index}&wait=1200ms`);
  t.equal(consul.status, 200, 'the Consul face too');
});

t.test(
  'past http.maxConnections the oldest idle connections make room: 60 silent ones never hold more than 50, and /health/live answers',
  async (t) => {
    const server = await startTestKonsul(t, { http: { maxConnections: 50, headersTimeout: '30s' } });
    const registry = server.metrics.registry;
    const clients: RawClient[] = [];
    for (let n = 0; n < 60; n++) clients.push(await openRaw(t, server.httpPort));
    // Every connection has been seen by the server once it is open, shed or refused.
    const accounted = async () =>
      (await metricValue(registry, 'konsul_http_connections')) +
      (await metricValue(registry, 'konsul_http_connections_shed_total')) +
      (await metricValue(registry, 'konsul_http_connections_refused_total'));
    for (let tries = 0; (await accounted()) < 60 && tries < 400; tries++)
      await new Promise((resolve) => setTimeout(resolve, 5));
    t.equal(await accounted(), 60, 'the server saw all 60');
    t.ok((await metricValue(registry, 'konsul_http_connections')) <= 50, 'at most 50 are held');
    t.equal(await metricValue(registry, 'konsul_http_connections_max'), 50);
    const live = await httpCall(server.httpPort, 'GET', '/health/live', undefined, { timeoutMs: GUARD_MS });
    t.equal(live.status, 200, 'a new client still gets in');
    await until(
      'the server closed at least 10 of them',
      (wake) => {
        for (const client of clients) client.socket.on('close', wake);
        return () => clients.forEach((client) => client.socket.off('close', wake));
      },
      () => clients.filter((client) => client.isClosed).length >= 10,
    );
    t.equal(clients.slice(-5).filter((client) => client.isClosed).length, 0, 'the youngest were kept');
    t.ok(
      server.logs.some((line) => line.includes('HTTP connections at http.maxConnections')),
      'and it was logged',
    );
  },
);

t.test('when every connection is answering a request, a new one is refused and counted', async (t) => {
  const server = await startTestKonsul(t, { http: { maxConnections: 5 } });
  const registry = server.metrics.registry;
  const index = server.catalog.index;
  const watches = Array.from({ length: 5 }, () =>
    httpCall(server.httpPort, 'GET', `/catalog/service-names?index=${index}&wait=20s`, undefined, {
      timeoutMs: 30_000,
    }),
  );
  // The catalog has no event for a waiter joining: poll its count.
  for (let tries = 0; server.catalog.waiting < 5 && tries < 1000; tries++)
    await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(server.catalog.waiting, 5, 'five blocking queries are held');
  const extra = await openRaw(t, server.httpPort);
  await within(extra.closed, GUARD_MS, 'connection past the limit');
  t.equal(extra.received, '', 'closed without an answer');
  t.equal(await metricValue(registry, 'konsul_http_connections_refused_total'), 1);
  t.equal(server.catalog.waiting, 5, 'the blocking queries were not shed');
  await server.catalog.register({ name: 'wake', address: '10.0.0.9', port: 9 });
  for (const watch of await Promise.all(watches)) t.equal(watch.status, 200, 'each watch was answered');
  const live = await httpCall(server.httpPort, 'GET', '/health/live');
  t.equal(live.status, 200, 'room again once they were answered');
});

t.test('the listen backlog has room for http.maxConnections newcomers at once, up to the kernel cap', async (t) => {
  // Node's default of 511 overflowed under a connection flood: the kernel dropped the handshakes
  // past it, and a liveness probe caught among them waited a second per retry and timed out.
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  for (const maxConnections of [50, 3000]) {
    const server = await startTestKonsul(t, { http: { maxConnections } });
    // ss shows a listening socket's backlog as its Send-Q.
    const listening = execFileSync('ss', ['-Hltn', `sport = :${server.httpPort}`], { encoding: 'utf8' });
    const backlog = Number(listening.trim().split(/\s+/)[2]);
    t.equal(
      backlog,
      Math.min(Math.max(511, maxConnections), somaxconn),
      `maxConnections ${maxConnections}: ${listening.trim()}`,
    );
    await server.close();
  }
});

/**
 * Hardening, limits over real sockets: the per-client write rate limit under a real burst, and
 * the cap on blocking queries held at once. (test/http-auth.test.ts covers the token bucket's
 * arithmetic with an injected clock; these use the real clock and real connections.)
 */
import t from 'tap';
import { connect } from 'node:net';
import { httpCall, type HttpAnswer } from '../helpers/fault-targets.js';
import { json, startTestKonsul } from '../helpers/konsul.js';

interface ErrorBody {
  error: { code: string; message: string };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function standardShape(answer: HttpAnswer): ErrorBody['error'] | undefined {
  const body = JSON.parse(answer.body) as Partial<ErrorBody>;
  return Object.keys(body).join() === 'error' &&
    Object.keys(body.error ?? {})
      .sort()
      .join() === 'code,message'
    ? body.error
    : undefined;
}

t.test(
  'a burst of writes over real connections past writesPerSecond gets 429 rate_limited, reads pass, and forged X-Forwarded-For does not help',
  async (t) => {
    const server = await startTestKonsul(t, { limits: { writesPerSecond: 20, writeBurst: 10 } });
    const index = server.catalog.index;
    const started = performance.now();
    const writes = Array.from({ length: 60 }, (_, n) =>
      httpCall(
        server.httpPort,
        'PUT',
        '/catalog/register',
        { id: `burst-${n}`, name: 'burst', address: '10.5.0.1', port: 1 + n },
        { headers: { 'x-forwarded-for': `198.51.100.${n}` } },
      ),
    );
    const reads = Array.from({ length: 20 }, () => httpCall(server.httpPort, 'GET', '/catalog/services/burst'));
    const [written, read] = await Promise.all([Promise.all(writes), Promise.all(reads)]);
    const seconds = (performance.now() - started) / 1000;

    const accepted = written.filter((answer) => answer.status === 200);
    const limited = written.filter((answer) => answer.status === 429);
    t.equal(accepted.length + limited.length, 60, 'every write was either accepted or limited');
    // The bucket holds 10 and refills at 20/s while the burst is in flight.
    t.ok(
      accepted.length >= 10 && accepted.length <= 10 + Math.ceil(seconds * 20) + 1,
      `${accepted.length} accepted in ${seconds.toFixed(2)} s`,
    );
    t.ok(limited.length >= 60 - 10 - Math.ceil(seconds * 20) - 1, `${limited.length} limited`);
    t.ok(
      limited.every(
        (answer) =>
          standardShape(answer)?.code === 'rate_limited' && /retry in \d+ s/.test(standardShape(answer)!.message),
      ),
      'each 429 is rate_limited in the standard shape',
    );
    t.ok(
      limited.every((answer) => Number(answer.headers['retry-after']) >= 1),
      'each carries Retry-After',
    );
    t.equal(server.catalog.index, index + accepted.length, 'only the accepted writes were written');
    t.ok(
      read.every((answer) => answer.status === 200),
      'no read was limited',
    );

    await sleep(600);
    const later = await httpCall(server.httpPort, 'PUT', '/catalog/register', {
      id: 'later',
      name: 'burst',
      address: '10.5.0.1',
      port: 9,
    });
    t.equal(later.status, 200, 'after a pause the client may write again');
  },
);

t.test(
  'blocking queries past blocking.maxWaiters get 429 too_many_blocking_queries at once; answered or abandoned ones free their places',
  async (t) => {
    const server = await startTestKonsul(t, { blocking: { maxWaiters: 5 } });
    const registered = json<{ index: number }>(
      await server.app.inject({
        method: 'PUT',
        url: '/catalog/register',
        payload: { name: 'watched', address: '10.6.0.1', port: 1 },
      }),
    );
    const url = `/catalog/services/watched?index=${registered.index}&wait=30s`;
    const waitFor = async (what: string, predicate: () => boolean) => {
      for (let i = 0; i < 300 && !predicate(); i++) await sleep(10);
      t.ok(predicate(), what);
    };

    const held = Array.from({ length: 5 }, () =>
      httpCall(server.httpPort, 'GET', url, undefined, { timeoutMs: 20_000 }),
    );
    await waitFor('five blocking queries are held', () => server.catalog.waiting === 5);
    const extra = await Promise.all(
      [
        url,
        `/catalog/service-names?index=${registered.index}&wait=30s`,
        `/services/watched?index=${registered.index}&wait=30s`,
      ].map((path) => httpCall(server.httpPort, 'GET', path, undefined, { timeoutMs: 2000 })),
    );
    for (const answer of extra) {
      t.equal(answer.status, 429);
      t.equal(standardShape(answer)?.code, 'too_many_blocking_queries', 'in the standard shape');
      t.ok(answer.ms < 3000, `refused at once (${Math.round(answer.ms)} ms)`);
    }
    const plain = await httpCall(server.httpPort, 'GET', '/catalog/services/watched');
    t.equal(plain.status, 200, 'a query without index is never refused');

    const change = await server.app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: { name: 'watched', address: '10.6.0.2', port: 1 },
    });
    t.equal(change.statusCode, 200);
    const answers = await Promise.all(held);
    t.ok(
      answers.every((answer) => answer.status === 200 && (JSON.parse(answer.body) as unknown[]).length === 2),
      'the held queries answer with the change',
    );
    t.equal(server.catalog.waiting, 0, 'and free their places');

    // Clients that hang up free their places too, without waiting for the 30 s.
    const current = json<{ index: number }>(change).index;
    const sockets = Array.from({ length: 5 }, () => {
      const socket = connect(server.httpPort, '127.0.0.1', () =>
        socket.write(`GET /catalog/services/watched?index=${current}&wait=30s HTTP/1.1\r\nHost: x\r\n\r\n`),
      );
      socket.on('error', () => undefined);
      return socket;
    });
    t.teardown(() => sockets.forEach((socket) => socket.destroy()));
    await waitFor('five raw blocking queries are held', () => server.catalog.waiting === 5);
    sockets.forEach((socket) => socket.destroy());
    await waitFor('hanging up released every place', () => server.catalog.waiting === 0);
    const again = httpCall(server.httpPort, 'GET', `/catalog/services/watched?index=${current}&wait=200ms`);
    t.equal((await again).status, 200, 'a new blocking query is held and answered again');
  },
);

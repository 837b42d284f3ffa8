import t from 'tap';
import type { ServiceRegistration } from '../src/client/index.js';
import { konsulUrl, startClient } from './helpers/client-fixtures.js';
import { startTestKonsul } from './helpers/konsul.js';
import { until } from './helpers/wait.js';

function on(registration: ServiceRegistration, event: string, condition: () => boolean): Promise<void> {
  return until(
    event,
    (wake) => {
      registration.on(event, wake);
      return () => registration.off(event, wake);
    },
    condition,
  );
}

t.test(
  'register heartbeats its TTL check, registers again when Konsul lost it, and deregisters on close()',
  async (t) => {
    const server = await startTestKonsul(t);
    const { konsul, clock } = startClient(t, [konsulUrl(server)]);
    const me = await konsul.register({ name: 'orders', address: '127.0.0.1', port: 8080, tags: ['v2'] }, { ttl: '9s' });
    t.equal(me.id, 'orders-127.0.0.1-8080');
    const url = `${konsulUrl(server)}/catalog/instances/${me.id}`;
    const registered = (await (await fetch(url)).json()) as {
      status: string;
      tags: string[];
      checks: { id: string; type: string; ttl: string }[];
    };
    t.match(registered, {
      status: 'passing',
      tags: ['v2'],
      checks: [{ id: `service:${me.id}`, type: 'ttl', ttl: '9s' }],
    });

    // Beats go every ttl/3 less up to 10% of jitter: within 3 s of virtual time.
    await clock.advance(3000);
    await on(me, 'heartbeat', () => me.stats().heartbeats === 1);
    await clock.advance(3000);
    await on(me, 'heartbeat', () => me.stats().heartbeats === 2);
    t.equal(me.stats().failures, 0);

    const removed = await fetch(url, { method: 'DELETE' });
    t.equal(removed.status, 200);
    await clock.advance(3000);
    await on(me, 'registered', () => me.stats().reRegistrations === 1);
    t.equal((await fetch(url)).status, 200, 'registered again after Konsul lost it');

    await konsul.close();
    t.equal((await fetch(url)).status, 404, 'gone after close()');
    t.equal(clock.pending, 0, 'no timer of the client is left');
  },
);

t.test('heartbeats that cannot reach Konsul are retried before the next regular beat', async (t) => {
  const server = await startTestKonsul(t);
  const { konsul, clock } = startClient(t, [konsulUrl(server)], { retryBase: '200ms', retryMax: '1s' });
  const me = await konsul.register({ name: 'orders', address: '127.0.0.1', port: 8081 }, { ttl: '30s' });
  await server.close();
  await clock.advance(10_000);
  await on(me, 'failure', () => me.stats().failures === 1);
  t.ok(clock.nextAt! - clock.now() <= 200, 'the retry comes after the backoff, not after ttl/3');
  t.match(me.stats().lastError, /fetch failed/, 'the last error is kept');
  await t.rejects(
    konsul.close(),
    { code: 'konsul_unavailable' },
    'close() says the deregistration did not reach Konsul',
  );
  t.equal(clock.pending, 0);
});

t.test('register refuses what Konsul refuses, and bad options before any call', async (t) => {
  const server = await startTestKonsul(t);
  const { konsul } = startClient(t, [konsulUrl(server)]);
  await t.rejects(konsul.register({ name: 'bad_name', address: '127.0.0.1', port: 1 }), {
    code: 'konsul_refused',
    serverCode: 'validation_failed',
    status: 400,
  });
  await t.rejects(konsul.register({ name: 'orders', address: '127.0.0.1', port: 1 }, { ttl: 'soon' }), {
    code: 'invalid_option',
  });
  t.throws(() => konsul.balancer('orders', { strategy: 'fastest' }), { code: 'invalid_option' });
  t.throws(() => konsul.balancer('orders', { maxRetries: -1 }), { code: 'invalid_option' });
});

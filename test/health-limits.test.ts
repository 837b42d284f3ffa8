/**
 * What one registration can make the health checker do is bounded: checks per instance, and
 * how often and how briefly each runs (health.maxChecksPerInstance, minInterval, minTimeout).
 */
import t from 'tap';
import { createServer, type Socket } from 'node:net';
import { json, startTestKonsul } from './helpers/konsul.js';
import { checkOf, startHealth, step } from './helpers/health-targets.js';

t.test('a registration with more checks than health.maxChecksPerInstance is refused and changes nothing', async (t) => {
  const server = await startTestKonsul(t, { health: { enabled: false, maxChecksPerInstance: 4 } });
  const checks = (count: number) =>
    Array.from({ length: count }, (_, n) => ({ type: 'tcp', tcp: `127.0.0.1:${1000 + n}`, interval: '10s' }));
  const refused = await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { id: 'many', name: 'web', address: '10.0.0.1', port: 80, checks: checks(5) },
  });
  t.equal(refused.statusCode, 400);
  t.match(json(refused), { error: { code: 'too_many_checks', message: /5 checks .* at most 4/ } });
  t.equal(server.catalog.instance('many'), undefined);
  const accepted = await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { id: 'many', name: 'web', address: '10.0.0.1', port: 80, checks: checks(4) },
  });
  t.equal(accepted.statusCode, 200, 'the cap itself is allowed');
});

t.test('the server default caps checks per instance at 16', async (t) => {
  const server = await startTestKonsul(t, { health: { enabled: false } });
  const refused = await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: {
      name: 'web',
      address: '10.0.0.1',
      port: 80,
      checks: Array.from({ length: 17 }, (_, n) => ({ type: 'ttl', ttl: '30s', id: `c${n}` })),
    },
  });
  t.match(json(refused), { error: { code: 'too_many_checks' } });
});

t.test('a check registered with a 1ns interval runs no more often than health.minInterval', async (t) => {
  const sockets = new Set<Socket>();
  let connections = 0;
  const listener = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.end();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        listener.close(() => resolve());
      }),
  );
  const port = (listener.address() as { port: number }).port;
  // random 0: the first run comes at once, the second a whole (clamped) interval later.
  const { catalog, manager, logs, clock } = await startHealth(
    t,
    { minInterval: '5s', minTimeout: '1s' },
    { random: () => 0 },
  );
  await catalog.register({
    id: 'flood',
    name: 'flood',
    address: '127.0.0.1',
    port,
    checks: [{ id: 'flood-tcp', type: 'tcp', tcp: `127.0.0.1:${port}`, interval: '1ns', timeout: '1ns' }],
  });
  const startedAt = await step(clock, manager);
  t.equal(checkOf(catalog, 'flood-tcp')?.status, 'passing', 'the check ran, with a timeout long enough to pass');
  t.equal(clock.nextAt, startedAt + 5000, 'the next run is health.minInterval later, not a nanosecond');
  await clock.advance(4999);
  t.equal(connections, 1, 'one connection in that time');
  t.ok(
    logs.some((line) => line.level === 40 && /raised to the minimum/.test(line.msg)),
    'the clamp is logged as a warning',
  );
});

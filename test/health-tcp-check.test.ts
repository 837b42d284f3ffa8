import t from 'tap';
import { createServer } from 'node:net';
import { runTcpCheck, tcpTarget } from '../src/health/tcp-check.js';
import { startTcpListener } from './helpers/health-targets.js';
import { VirtualClock } from './helpers/virtual-clock.js';

const never = new AbortController().signal;

t.test('host:port, IPv4 and bracketed IPv6 addresses are parsed', async (t) => {
  t.same(tcpTarget('db.internal:5432'), { host: 'db.internal', port: 5432, label: 'TCP connect db.internal:5432' });
  t.same(tcpTarget('10.0.0.7:6379'), { host: '10.0.0.7', port: 6379, label: 'TCP connect 10.0.0.7:6379' });
  t.same(tcpTarget('[2001:db8::1]:443'), { host: '2001:db8::1', port: 443, label: 'TCP connect [2001:db8::1]:443' });
});

t.test('a listener that accepts is passing, and the connection is closed', async (t) => {
  const listener = await startTcpListener(t);
  const result = await runTcpCheck(tcpTarget(listener.address), 1000, never);
  t.same(result, { status: 'passing', note: `TCP connect ${listener.address}: Success` });
  // The client's side finishes first; the listener accepts, and sees the close, a turn or more later.
  await listener.until(
    'the listener to accept and see the close',
    () => listener.accepted >= 1 && listener.openSockets === 0,
  );
  t.equal(listener.accepted, 1);
});

t.test('a closed port is critical and the note says why', async (t) => {
  const listener = await startTcpListener(t);
  await listener.close();
  const result = await runTcpCheck(tcpTarget(listener.address), 1000, never);
  t.equal(result.status, 'critical');
  t.match(result.note, new RegExp(`^TCP connect ${listener.address}: connect ECONNREFUSED`));
});

const ipv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = createServer();
  probe.once('error', () => resolve(false));
  probe.listen(0, '::1', () => probe.close(() => resolve(true)));
});

t.test(
  'an IPv6 listener is reached through [addr]:port',
  { skip: ipv6Loopback ? false : 'this host has no IPv6 loopback' },
  async (t) => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const result = await runTcpCheck(tcpTarget(`[::1]:${port}`), 1000, never);
    t.same(result, { status: 'passing', note: `TCP connect [::1]:${port}: Success` });
  },
);

t.test('an aborted run is critical and cancelled', async (t) => {
  const listener = await startTcpListener(t);
  const abort = new AbortController();
  abort.abort();
  const result = await runTcpCheck(tcpTarget(listener.address), 1000, abort.signal);
  t.same(result, { status: 'critical', note: `TCP connect ${listener.address}: check cancelled` });
});

t.test('a connection that cannot be made within the timeout is critical', async (t) => {
  // 192.0.2.0/24 (RFC 5737 TEST-NET-1) is never routed: the SYN goes unanswered or fails fast.
  // On a virtual clock the timeout comes when the test says, however slowly the SYN fails.
  const clock = new VirtualClock();
  const running = runTcpCheck(tcpTarget('192.0.2.1:9'), 100, never, clock);
  await clock.advance(100);
  const result = await running;
  t.equal(result.status, 'critical');
  t.match(result.note, /^TCP connect 192\.0\.2\.1:9: /);
});

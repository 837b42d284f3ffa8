import t from 'tap';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { HealthManager } from '../src/health/manager.js';
import { KonsulError } from '../src/errors.js';
import {
  captureLogger,
  checkOf,
  healthConfig,
  openCatalog,
  sleep,
  startHealth,
  startHttpTarget,
  startTcpListener,
  tempDir,
  waitFor,
  waitForStatus,
} from './helpers/health-targets.js';

/**
 * Timing for checks whose tests read what a run found. The targets share the event loop with the
 * prober, so on a loaded machine a stall can outlast a short timeout and record a "timed out"
 * critical the target never gave; 300 ms is well beyond such stalls (the interval may not be
 * shorter than the timeout).
 */
const stallTolerant = { interval: '300ms', timeout: '300ms' } as const;

/** The value of one series in Prometheus text output. */
function sampleOf(text: string, series: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no series ${series}`);
  return Number(line.slice(series.length + 1));
}

t.test('an http check follows its target: 200 is passing, 500 critical, 429 warning', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200, body: 'all good' });
  const { catalog } = await startHealth(t);
  await catalog.register({
    id: 'web-1',
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'web-http', type: 'http', http: target.url, ...stallTolerant }],
  });

  const passing = await waitForStatus(catalog, 'web-http', 'passing');
  t.match(passing.note, /^HTTP GET http:\/\/127\.0\.0\.1:\d+\/health: 200 OK Output: all good$/);
  t.equal(catalog.instance('web-1')?.status, 'passing', 'the instance takes the status of its only check');

  target.behaviour = { kind: 'status', status: 500, body: 'database down' };
  // Waiting on the note as well: should a stall still time one run out, the next run corrects it.
  const critical = await waitForStatus(
    catalog,
    'web-http',
    'critical',
    /500 Internal Server Error Output: database down$/,
  );
  t.match(critical.note, /500 Internal Server Error Output: database down$/);

  target.behaviour = { kind: 'status', status: 429, body: 'slow down' };
  const warning = await waitForStatus(catalog, 'web-http', 'warning');
  t.match(warning.note, /429 Too Many Requests Output: slow down$/);
  t.equal(catalog.instance('web-1')?.status, 'warning');
});

t.test('an http check whose target never answers turns critical at its timeout', async (t) => {
  const target = await startHttpTarget(t, { kind: 'hang' });
  const { catalog } = await startHealth(t);
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'hang', type: 'http', http: target.url, interval: '300ms', timeout: '150ms', status: 'passing' }],
  });
  const check = await waitForStatus(catalog, 'hang', 'critical');
  t.match(check.note, /timed out after 150ms$/);
});

t.test('an http check whose target hangs mid-response turns critical at its timeout', async (t) => {
  const target = await startHttpTarget(t, { kind: 'hang-mid-response' });
  const { catalog } = await startHealth(t, { outputBytes: 4096 });
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'half', type: 'http', http: target.url, interval: '300ms', timeout: '150ms', status: 'passing' }],
  });
  const check = await waitForStatus(catalog, 'half', 'critical');
  t.match(check.note, /timed out after 150ms$/);
});

t.test('an http check reads at most outputBytes of an endless body and passes on its status', async (t) => {
  const target = await startHttpTarget(t, { kind: 'endless' });
  // A run that waited for its timeout instead of stopping at outputBytes would take the full 5 s:
  // far above the bound below, which leaves a loaded machine plenty of room under it.
  const { catalog, registry } = await startHealth(t, { outputBytes: 100 }, { random: () => 0 });
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'endless', type: 'http', http: target.url, interval: '5s', timeout: '5s' }],
  });
  const check = await waitForStatus(catalog, 'endless', 'passing');
  t.match(check.note, /200 OK Output: x{100}$/, 'the note holds exactly outputBytes of the body');
  const text = await registry.metrics();
  const sum = sampleOf(text, 'konsul_health_check_duration_seconds_sum{type="http"}');
  const count = sampleOf(text, 'konsul_health_check_duration_seconds_count{type="http"}');
  t.ok(
    count >= 1 && sum / count < 1,
    `the run ends once it has its bytes, well before the 5s timeout (mean ${((sum / count) * 1000).toFixed(1)} ms)`,
  );
});

t.test('a tcp check passes while the listener accepts and turns critical once it is closed', async (t) => {
  const listener = await startTcpListener(t);
  const { catalog } = await startHealth(t);
  await catalog.register({
    name: 'db',
    address: '127.0.0.1',
    port: listener.port,
    checks: [{ id: 'db-tcp', type: 'tcp', tcp: listener.address, interval: '300ms', timeout: '250ms' }],
  });
  const passing = await waitForStatus(catalog, 'db-tcp', 'passing');
  t.equal(passing.note, `TCP connect ${listener.address}: Success`);
  await listener.close();
  const critical = await waitForStatus(catalog, 'db-tcp', 'critical');
  t.match(critical.note, /ECONNREFUSED/, 'the note says why');
});

t.test('a ttl check turns critical with "TTL expired" when its client stops reporting', async (t) => {
  const { catalog, manager } = await startHealth(t);
  await catalog.register({
    id: 'worker-1',
    name: 'worker',
    address: '127.0.0.1',
    port: 9000,
    checks: [{ id: 'worker-ttl', type: 'ttl', ttl: '200ms' }],
  });
  await manager.updateTtl('worker-ttl', 'passing', 'alive');
  t.equal(checkOf(catalog, 'worker-ttl')?.status, 'passing');
  t.equal(checkOf(catalog, 'worker-ttl')?.note, 'alive');
  const expired = await waitForStatus(catalog, 'worker-ttl', 'critical');
  t.equal(expired.note, 'TTL expired');
  t.equal(catalog.instance('worker-1')?.status, 'critical');
});

t.test('updateTtl moves the deadline even when the status does not change', async (t) => {
  const { catalog, manager } = await startHealth(t);
  await catalog.register({
    name: 'worker',
    address: '127.0.0.1',
    port: 9000,
    checks: [{ id: 'beat', type: 'ttl', ttl: '500ms' }],
  });
  await manager.updateTtl('beat', 'passing');
  const indexAfterFirst = catalog.index;
  // Five heartbeats 200 ms apart span twice the TTL; each resets the deadline, so it never expires.
  // The 300 ms a heartbeat leaves before the deadline absorb a stalled event loop.
  for (let beat = 0; beat < 5; beat++) {
    await sleep(200);
    t.equal(checkOf(catalog, 'beat')?.status, 'passing', `still passing at heartbeat ${beat + 1}`);
    await manager.updateTtl('beat', 'passing');
  }
  t.equal(catalog.index, indexAfterFirst, 'identical heartbeats write nothing');
  const expired = await waitForStatus(catalog, 'beat', 'critical');
  t.equal(expired.note, 'TTL expired', 'once the heartbeats stop, the TTL runs out');
});

t.test('updateTtl refuses unknown checks and checks that are not ttl checks', async (t) => {
  const target = await startHttpTarget(t);
  const { catalog, manager } = await startHealth(t);
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'web-http', type: 'http', http: target.url, interval: '1s' }],
  });
  await t.rejects(manager.updateTtl('nope', 'passing'), { code: 'check_not_found', statusCode: 404 });
  await t.rejects(manager.updateTtl('web-http', 'passing'), { code: 'not_ttl_check', statusCode: 400 });
  const error = await manager.updateTtl('nope', 'passing').catch((caught: unknown) => caught);
  t.ok(error instanceof KonsulError, 'the errors come from the catalogue');
});

t.test('failuresBeforeCritical keeps a passing check passing until that many failures in a row', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200, body: 'ok' });
  const { catalog } = await startHealth(t);
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'flappy', type: 'http', http: target.url, ...stallTolerant, failuresBeforeCritical: 3 }],
  });
  await waitForStatus(catalog, 'flappy', 'passing');
  target.behaviour = { kind: 'status', status: 500, body: 'oops' };
  const failedAt = target.requests.length;
  await waitForStatus(catalog, 'flappy', 'critical');
  const failuresSeen = target.requests.length - failedAt;
  t.ok(failuresSeen >= 3, `critical only after 3 failing runs (saw ${failuresSeen} requests)`);
});

t.test('successBeforePassing keeps a critical check critical until that many successes in a row', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200, body: 'ok' });
  // random 0: the first run comes at once and the second a full interval after it.
  const { catalog, manager } = await startHealth(t, {}, { random: () => 0 });
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'slow-start', type: 'http', http: target.url, ...stallTolerant, successBeforePassing: 3 }],
  });
  // A request seen and no run in flight: the first run has ended and its result was handled.
  await waitFor('the first run to end', () =>
    target.requests.length >= 1 && manager.inFlight === 0 ? true : undefined,
  );
  // The catalog commits once per turn of the event loop; a write the run queued lands by the next.
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(checkOf(catalog, 'slow-start')?.status, 'critical', 'one success is not enough');
  await waitForStatus(catalog, 'slow-start', 'passing');
  t.ok(target.requests.length >= 3, `passing only after 3 successful runs (saw ${target.requests.length})`);
});

t.test(
  'an instance whose check stays critical past deregisterCriticalAfter is deregistered, and the log says so',
  async (t) => {
    const listener = await startTcpListener(t);
    const { catalog, logs } = await startHealth(t);
    await listener.close();
    await catalog.register({
      id: 'doomed',
      name: 'db',
      address: '127.0.0.1',
      port: listener.port,
      checks: [
        {
          id: 'doomed-tcp',
          type: 'tcp',
          tcp: listener.address,
          interval: '100ms',
          timeout: '80ms',
          deregisterCriticalAfter: '300ms',
          status: 'passing',
        },
      ],
    });
    const critical = await waitForStatus(catalog, 'doomed-tcp', 'critical');
    await waitFor('the instance to be deregistered', () =>
      catalog.instance('doomed') === undefined ? true : undefined,
    );
    const line = logs.find((entry) => /deregisterCriticalAfter/.test(entry.msg));
    t.ok(line, 'a log line names the reason');
    t.equal(line?.instanceId, 'doomed');
    t.ok(
      Number(line?.criticalForMs) >= 300,
      `critical for at least 300 ms before removal (${String(line?.criticalForMs)} ms)`,
    );
    t.ok(Date.now() - critical.statusChangedAt >= 300);
  },
);

t.test('a check that recovers before deregisterCriticalAfter keeps its instance', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 500 });
  const { catalog } = await startHealth(t);
  await catalog.register({
    id: 'survivor',
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [
      {
        id: 'survivor-http',
        type: 'http',
        http: target.url,
        interval: '50ms',
        timeout: '40ms',
        deregisterCriticalAfter: '400ms',
      },
    ],
  });
  await waitFor('a first run', () => (target.requests.length > 0 ? true : undefined));
  target.behaviour = { kind: 'status', status: 200 };
  await waitForStatus(catalog, 'survivor-http', 'passing');
  await sleep(500);
  t.ok(catalog.instance('survivor'), 'still registered after the deadline would have passed');
});

t.test('after a restart the stored status is kept and checks resume', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200 });
  const file = join(tempDir(t), 'konsul.db');
  const config = healthConfig();
  const first = await openCatalog(file);
  const firstManager = new HealthManager({
    catalog: first,
    config,
    registry: new Registry(),
    logger: captureLogger().logger,
  });
  firstManager.start();
  await first.register({
    id: 'web-1',
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'web-http', type: 'http', http: target.url, interval: '200ms', timeout: '100ms' }],
  });
  await first.register({
    id: 'worker-1',
    name: 'worker',
    address: '127.0.0.1',
    port: 9000,
    checks: [{ id: 'worker-ttl', type: 'ttl', ttl: '300ms' }],
  });
  await waitForStatus(first, 'web-http', 'passing');
  // Reported just before the stop, so the wait above cannot outlast the TTL.
  await firstManager.updateTtl('worker-ttl', 'passing', 'alive');
  await firstManager.stop();
  await first.close();

  // While the server is down the target fails; the restarted manager must notice on its own.
  target.behaviour = { kind: 'status', status: 503 };
  const second = await openCatalog(file);
  const secondManager = new HealthManager({
    catalog: second,
    config,
    registry: new Registry(),
    logger: captureLogger().logger,
  });
  t.teardown(async () => {
    await secondManager.stop();
    await second.close();
  });
  t.equal(checkOf(second, 'web-http')?.status, 'passing', 'the stored status survives the restart');
  t.equal(checkOf(second, 'worker-ttl')?.status, 'passing');
  const startedAt = Date.now();
  secondManager.start();
  t.equal(secondManager.managed, 2, 'every stored check is under management again');
  await waitForStatus(second, 'web-http', 'critical');
  const expired = await waitForStatus(second, 'worker-ttl', 'critical');
  t.ok(expired.statusChangedAt - startedAt >= 290, 'the TTL deadline counts from start-up');
});

t.test('re-registering with a new target and interval moves the schedule to them', async (t) => {
  const oldTarget = await startHttpTarget(t, { kind: 'status', status: 200 });
  const newTarget = await startHttpTarget(t, { kind: 'status', status: 200 });
  // random 0: the first run comes at once and the second a full interval (5 s) later.
  const { catalog } = await startHealth(t, {}, { random: () => 0 });
  const registration = { id: 'web-1', name: 'web', address: '127.0.0.1', port: 80 };
  await catalog.register({
    ...registration,
    checks: [{ id: 'moving', type: 'http', http: oldTarget.url, interval: '5s', timeout: '1s' }],
  });
  await waitFor('the first run against the old target', () => (oldTarget.requests.length === 1 ? true : undefined));
  await catalog.register({
    ...registration,
    checks: [{ id: 'moving', type: 'http', http: newTarget.url, interval: '100ms', timeout: '80ms' }],
  });
  await waitFor(
    'runs at the new interval against the new target',
    () => (newTarget.requests.length >= 4 ? true : undefined),
    2000,
  );
  t.equal(oldTarget.requests.length, 1, 'the old target is no longer checked');
});

t.test('re-registering the same check keeps its schedule', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200 });
  const { catalog } = await startHealth(t, {}, { random: () => 0 });
  const registration = {
    id: 'web-1',
    name: 'web',
    address: '127.0.0.1',
    port: 80,
    checks: [{ id: 'steady', type: 'http' as const, http: target.url, interval: '5s', timeout: '1s' }],
  };
  await catalog.register(registration);
  await waitFor('the first run', () => (target.requests.length === 1 ? true : undefined));
  await catalog.register(registration);
  await sleep(200);
  t.equal(target.requests.length, 1, 'no extra run: the next one is still 5 s away');
});

t.test('deregistering an instance stops its checks', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200 });
  const { catalog, manager } = await startHealth(t);
  await catalog.register({
    id: 'web-1',
    name: 'web',
    address: '127.0.0.1',
    port: 80,
    checks: [{ id: 'gone', type: 'http', http: target.url, interval: '50ms', timeout: '40ms' }],
  });
  await waitFor('two runs', () => (target.requests.length >= 2 ? true : undefined));
  await catalog.deregister('web-1');
  t.equal(manager.managed, 0);
  // A run cut off by the removal may have sent its request already; once its connection is
  // closed on both ends, the target can receive nothing more from it.
  await waitFor('the cancelled run to let go of its connection', () =>
    manager.inFlight === 0 && target.openSockets === 0 ? true : undefined,
  );
  const seen = target.requests.length;
  await sleep(200);
  t.equal(target.requests.length, seen, 'no run after the removal');
});

t.test('no more than maxConcurrent checks run at once; the others queue and their lag shows it', async (t) => {
  const target = await startHttpTarget(t, { kind: 'hang' });
  const { catalog, manager, registry } = await startHealth(t, { maxConcurrent: 2 }, { random: () => 0 });
  let most = 0;
  const sampler = setInterval(() => (most = Math.max(most, manager.inFlight)), 2);
  t.teardown(() => clearInterval(sampler));
  // Registered together, the six land in one commit and are all due at once (random 0). The
  // target never answers, so each run holds its slot for the whole 300 ms timeout: runs 3-4 can
  // start only when 1-2 time out, and 5-6 only when 3-4 do, at least 600 ms after their plan,
  // however slowly the machine runs.
  await Promise.all(
    Array.from({ length: 6 }, (_, n) =>
      catalog.register({
        id: `web-${n}`,
        name: 'web',
        address: '127.0.0.1',
        port: 80 + n,
        checks: [{ id: `slow-${n}`, type: 'http', http: target.url, interval: '1s', timeout: '300ms' }],
      }),
    ),
  );
  await waitFor('every check to have run once', () => (target.requests.length >= 6 ? true : undefined), 5000);
  t.equal(most, 2, 'two in flight at most');
  const text = await registry.metrics();
  const withinTenthOfASecond = sampleOf(text, 'konsul_health_check_lag_seconds_bucket{le="0.1"}');
  const count = sampleOf(text, 'konsul_health_check_lag_seconds_count');
  t.ok(
    count >= 6 && count - withinTenthOfASecond >= 4,
    `the four queued runs started more than 100 ms after their plan (${count - withinTenthOfASecond} of ${count})`,
  );
});

t.test('a new check runs at once with a little jitter, not after a full interval', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200 });
  const { catalog } = await startHealth(t, {}, { random: () => 0.25 });
  const registeredAt = Date.now();
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: 80,
    checks: [{ id: 'prompt', type: 'http', http: target.url, interval: '1m', timeout: '1s' }],
  });
  // A first run planned from the full interval would come 15 s (1m × 0.25) after registration.
  const check = await waitForStatus(catalog, 'prompt', 'passing', undefined, 5000);
  const delay = check.statusChangedAt - registeredAt;
  t.ok(delay >= 240 && delay < 3000, `first run after min(interval, 1s) × 0.25 = 250 ms (took ${delay} ms)`);
});

t.test('identical results write nothing; a status change bumps the index', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200, body: 'same' });
  const { catalog } = await startHealth(t);
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: 80,
    checks: [{ id: 'quiet', type: 'http', http: target.url, ...stallTolerant }],
  });
  await waitForStatus(catalog, 'quiet', 'passing');
  const index = catalog.index;
  const seen = target.requests.length;
  await waitFor('four more runs', () => (target.requests.length >= seen + 4 ? true : undefined), 5000);
  t.equal(catalog.index, index, 'unchanged results leave the index alone');
  target.behaviour = { kind: 'status', status: 500, body: 'same' };
  await waitForStatus(catalog, 'quiet', 'critical');
  t.equal(catalog.index, index + 1, 'the status change is one write');
});

t.test('the metrics count results, status changes and runs in flight', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200 });
  const { catalog, registry, manager } = await startHealth(t);
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: 80,
    checks: [{ id: 'counted', type: 'http', http: target.url, ...stallTolerant }],
  });
  await waitForStatus(catalog, 'counted', 'passing');
  await catalog.register({
    name: 'worker',
    address: '127.0.0.1',
    port: 81,
    checks: [{ id: 'counted-ttl', type: 'ttl', ttl: '10s' }],
  });
  await manager.updateTtl('counted-ttl', 'warning');
  const text = await registry.metrics();
  t.match(text, /konsul_health_checks_total\{type="http",status="passing"\} [1-9]/);
  t.match(text, /konsul_health_checks_total\{type="ttl",status="warning"\} 1/);
  t.match(text, /konsul_health_status_changes_total\{from="critical",to="passing"\} 1/);
  t.match(text, /konsul_health_status_changes_total\{from="critical",to="warning"\} 1/);
  t.match(text, /konsul_health_checks_in_flight [01]/);
  t.match(text, /konsul_health_check_lag_seconds_count [1-9]/);
  t.match(text, /konsul_health_check_duration_seconds_count\{type="http"\} [1-9]/);
});

t.test('stop() cancels running checks and leaves no open handle', async (t) => {
  const target = await startHttpTarget(t, { kind: 'hang' });
  const listener = await startTcpListener(t);
  const count = (kind: string) => process.getActiveResourcesInfo().filter((name) => name === kind).length;
  const file = join(tempDir(t), 'konsul.db');
  const catalog = await openCatalog(file);
  t.teardown(() => catalog.close());
  const before = { sockets: count('TCPSocketWrap'), timers: count('Timeout') };
  const manager = new HealthManager({
    catalog,
    config: healthConfig(),
    registry: new Registry(),
    logger: captureLogger().logger,
    random: () => 0,
  });
  manager.start();
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: 80,
    checks: [{ id: 'stuck', type: 'http', http: target.url, interval: '10s', timeout: '5s' }],
  });
  await catalog.register({
    name: 'db',
    address: '127.0.0.1',
    port: 81,
    checks: [{ id: 'db-tcp', type: 'tcp', tcp: listener.address, interval: '10s', timeout: '5s' }],
  });
  await catalog.register({
    name: 'worker',
    address: '127.0.0.1',
    port: 82,
    checks: [{ id: 'ttl', type: 'ttl', ttl: '1h', deregisterCriticalAfter: '1h' }],
  });
  await waitFor('the http check to be in flight', () =>
    manager.inFlight === 1 && target.requests.length === 1 ? true : undefined,
  );
  t.ok(count('TCPSocketWrap') > before.sockets, 'the running check holds a socket');
  await manager.stop();
  t.equal(manager.inFlight, 0);
  // The targets' own server-side sockets close a moment after ours; they are not the manager's.
  t.ok(
    count('TCPSocketWrap') - target.openSockets - listener.openSockets <= before.sockets,
    'no client socket left open',
  );
  t.ok(count('Timeout') <= before.timers, 'no timer left behind');
  t.equal(checkOf(catalog, 'stuck')?.status, 'critical', 'a cancelled run records nothing');
  t.equal(checkOf(catalog, 'stuck')?.note, '');
});

t.test('a check whose request cannot even be built turns critical and keeps being scheduled', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200 });
  const { catalog, manager } = await startHealth(t);
  // The HTTP edge refuses such a header value; the catalog alone does not, and the manager must
  // not let a probe that throws leave the check stuck at its last status.
  await catalog.register({
    id: 'euro',
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [
      {
        id: 'euro-http',
        type: 'http',
        http: target.url,
        headers: { 'x-currency': '€' },
        interval: '100ms',
        timeout: '80ms',
        status: 'passing',
      },
    ],
  });
  const critical = await waitForStatus(catalog, 'euro-http', 'critical');
  t.match(critical.note, /could not run/);
  t.equal(manager.managed, 1, 'the check is still managed');
  await catalog.register({
    id: 'euro',
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'euro-http', type: 'http', http: target.url, interval: '100ms', timeout: '80ms' }],
  });
  await waitForStatus(catalog, 'euro-http', 'passing');
  t.pass('after the registration is fixed, the same check runs again and passes');
});

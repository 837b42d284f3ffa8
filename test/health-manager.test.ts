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
  startHealth,
  startHttpTarget,
  startTcpListener,
  step,
  stepUntil,
  tempDir,
  waitForStatus,
} from './helpers/health-targets.js';
import { seeded } from './helpers/seeded.js';
import { VirtualClock } from './helpers/virtual-clock.js';

/**
 * Every test runs on a virtual clock: a planned run, a probe's timeout, a TTL or a reaper
 * deadline comes only when the test steps the clock to it (step), and the test then waits for
 * the run to end (real I/O against a real target) before it steps again. A loaded machine can
 * slow a run down but never time it out, so the outcomes are exact.
 */
const runTiming = { interval: '300ms', timeout: '300ms' } as const;

/** The value of one series in Prometheus text output. */
function sampleOf(text: string, series: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no series ${series}`);
  return Number(line.slice(series.length + 1));
}

t.test('an http check follows its target: 200 is passing, 500 critical, 429 warning', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200, body: 'all good' });
  const { catalog, manager, clock } = await startHealth(t);
  await catalog.register({
    id: 'web-1',
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'web-http', type: 'http', http: target.url, ...runTiming }],
  });

  await step(clock, manager);
  const passing = await waitForStatus(catalog, 'web-http', 'passing');
  t.match(passing.note, /^HTTP GET http:\/\/127\.0\.0\.1:\d+\/health: 200 OK Output: all good$/);
  t.equal(catalog.instance('web-1')?.status, 'passing', 'the instance takes the status of its only check');

  target.behaviour = { kind: 'status', status: 500, body: 'database down' };
  await step(clock, manager);
  const critical = await waitForStatus(
    catalog,
    'web-http',
    'critical',
    /500 Internal Server Error Output: database down$/,
  );
  t.match(critical.note, /500 Internal Server Error Output: database down$/);

  target.behaviour = { kind: 'status', status: 429, body: 'slow down' };
  await step(clock, manager);
  const warning = await waitForStatus(catalog, 'web-http', 'warning');
  t.match(warning.note, /429 Too Many Requests Output: slow down$/);
  t.equal(catalog.instance('web-1')?.status, 'warning');
});

t.test('an http check whose target never answers turns critical at its timeout', async (t) => {
  const target = await startHttpTarget(t, { kind: 'hang' });
  const { catalog, manager, clock } = await startHealth(t);
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'hang', type: 'http', http: target.url, interval: '300ms', timeout: '150ms', status: 'passing' }],
  });
  const startedAt = await clock.runNext();
  await target.until('the run to reach the target', () => target.requests.length === 1);
  t.equal(checkOf(catalog, 'hang')?.status, 'passing', 'no verdict while the target keeps the run waiting');
  t.equal(await step(clock, manager), startedAt + 150, 'the next thing due is the timeout');
  const check = await waitForStatus(catalog, 'hang', 'critical');
  t.match(check.note, /timed out after 150ms$/);
});

t.test('an http check whose target hangs mid-response turns critical at its timeout', async (t) => {
  const target = await startHttpTarget(t, { kind: 'hang-mid-response' });
  const { catalog, manager, clock } = await startHealth(t, { outputBytes: 4096 });
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'half', type: 'http', http: target.url, interval: '300ms', timeout: '150ms', status: 'passing' }],
  });
  const startedAt = await clock.runNext();
  await target.until('the run to reach the target', () => target.requests.length === 1);
  t.equal(checkOf(catalog, 'half')?.status, 'passing', 'no verdict while the target keeps the run waiting');
  t.equal(await step(clock, manager), startedAt + 150, 'the next thing due is the timeout');
  const check = await waitForStatus(catalog, 'half', 'critical');
  t.match(check.note, /timed out after 150ms$/);
});

t.test('an http check reads at most outputBytes of an endless body and passes on its status', async (t) => {
  const target = await startHttpTarget(t, { kind: 'endless' });
  // The clock stands still while the run reads, so a run that waited for its 5 s timeout instead
  // of stopping at outputBytes would never end; its real duration stays far under it too.
  const { catalog, registry, manager, clock } = await startHealth(t, { outputBytes: 100 }, { random: () => 0 });
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'endless', type: 'http', http: target.url, interval: '5s', timeout: '5s' }],
  });
  const startedAt = clock.now();
  await step(clock, manager);
  const check = await waitForStatus(catalog, 'endless', 'passing');
  t.ok(clock.now() - startedAt < 5000, 'the run ended before its timeout was due');
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
  const { catalog, manager, clock } = await startHealth(t);
  await catalog.register({
    name: 'db',
    address: '127.0.0.1',
    port: listener.port,
    checks: [{ id: 'db-tcp', type: 'tcp', tcp: listener.address, interval: '300ms', timeout: '250ms' }],
  });
  await step(clock, manager);
  const passing = await waitForStatus(catalog, 'db-tcp', 'passing');
  t.equal(passing.note, `TCP connect ${listener.address}: Success`);
  await listener.close();
  await step(clock, manager);
  const critical = await waitForStatus(catalog, 'db-tcp', 'critical');
  t.match(critical.note, /ECONNREFUSED/, 'the note says why');
});

t.test('a ttl check turns critical with "TTL expired" when its client stops reporting', async (t) => {
  const { catalog, manager, clock } = await startHealth(t);
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
  await clock.advance(199);
  await manager.settled();
  t.equal(checkOf(catalog, 'worker-ttl')?.status, 'passing', 'not a millisecond before the ttl');
  await clock.advance(1);
  await manager.settled();
  const expired = await waitForStatus(catalog, 'worker-ttl', 'critical');
  t.equal(expired.note, 'TTL expired');
  t.equal(catalog.instance('worker-1')?.status, 'critical');
});

t.test('updateTtl moves the deadline even when the status does not change', async (t) => {
  const { catalog, manager, clock } = await startHealth(t);
  await catalog.register({
    name: 'worker',
    address: '127.0.0.1',
    port: 9000,
    checks: [{ id: 'beat', type: 'ttl', ttl: '500ms' }],
  });
  await manager.updateTtl('beat', 'passing');
  const indexAfterFirst = catalog.index;
  // Five heartbeats 200 ms apart span twice the TTL; each resets the deadline, so it never expires.
  for (let beat = 0; beat < 5; beat++) {
    await clock.advance(200);
    await manager.settled();
    t.equal(checkOf(catalog, 'beat')?.status, 'passing', `still passing at heartbeat ${beat + 1}`);
    await manager.updateTtl('beat', 'passing');
  }
  t.equal(catalog.index, indexAfterFirst, 'identical heartbeats write nothing');
  await clock.advance(500);
  await manager.settled();
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
  const { catalog, manager, clock } = await startHealth(t);
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'flappy', type: 'http', http: target.url, ...runTiming, failuresBeforeCritical: 3 }],
  });
  await step(clock, manager);
  await waitForStatus(catalog, 'flappy', 'passing');
  target.behaviour = { kind: 'status', status: 500, body: 'oops' };
  const failedAt = target.requests.length;
  await stepUntil(clock, manager, 'flappy to turn critical', () => checkOf(catalog, 'flappy')?.status === 'critical');
  const failuresSeen = target.requests.length - failedAt;
  t.ok(failuresSeen >= 3, `critical only after 3 failing runs (saw ${failuresSeen} requests)`);
  t.equal(failuresSeen, 3, 'and at the third');
});

t.test('successBeforePassing keeps a critical check critical until that many successes in a row', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200, body: 'ok' });
  // random 0: the first run comes at once and the second a full interval after it.
  const { catalog, manager, clock } = await startHealth(t, {}, { random: () => 0 });
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: target.port,
    checks: [{ id: 'slow-start', type: 'http', http: target.url, ...runTiming, successBeforePassing: 3 }],
  });
  // The first run has ended and its result was handled.
  await step(clock, manager);
  t.equal(target.requests.length, 1);
  t.equal(checkOf(catalog, 'slow-start')?.status, 'critical', 'one success is not enough');
  await stepUntil(clock, manager, 'slow-start to pass', () => checkOf(catalog, 'slow-start')?.status === 'passing');
  t.ok(target.requests.length >= 3, `passing only after 3 successful runs (saw ${target.requests.length})`);
  t.equal(target.requests.length, 3, 'and at the third');
});

t.test(
  'an instance whose check stays critical past deregisterCriticalAfter is deregistered, and the log says so',
  async (t) => {
    const listener = await startTcpListener(t);
    const { catalog, logs, manager, clock } = await startHealth(t);
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
    await step(clock, manager);
    const critical = await waitForStatus(catalog, 'doomed-tcp', 'critical');
    await stepUntil(clock, manager, 'the instance to be deregistered', () => catalog.instance('doomed') === undefined);
    const line = logs.find((entry) => /deregisterCriticalAfter/.test(entry.msg));
    t.ok(line, 'a log line names the reason');
    t.equal(line?.instanceId, 'doomed');
    t.ok(
      Number(line?.criticalForMs) >= 300,
      `critical for at least 300 ms before removal (${String(line?.criticalForMs)} ms)`,
    );
    t.ok(clock.now() - critical.statusChangedAt >= 300);
    t.equal(Number(line?.criticalForMs), 300, 'removed at the deadline, not a run later');
  },
);

t.test('a check that recovers before deregisterCriticalAfter keeps its instance', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 500 });
  const { catalog, manager, clock } = await startHealth(t);
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
  await step(clock, manager);
  t.equal(target.requests.length, 1, 'a first run');
  target.behaviour = { kind: 'status', status: 200 };
  await step(clock, manager);
  await waitForStatus(catalog, 'survivor-http', 'passing');
  // Every run and deadline of the next 500 ms, one by one.
  const end = clock.now() + 500;
  while ((clock.nextAt ?? Number.POSITIVE_INFINITY) <= end) await step(clock, manager);
  await clock.advanceTo(end);
  t.ok(catalog.instance('survivor'), 'still registered after the deadline would have passed');
});

t.test('after a restart the stored status is kept and checks resume', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200 });
  const file = join(tempDir(t), 'konsul.db');
  const config = healthConfig();
  const clock = new VirtualClock();
  const jitter = seeded(15);
  const random = () => jitter.next();
  const first = await openCatalog(file, clock);
  const firstManager = new HealthManager({
    catalog: first,
    config,
    registry: new Registry(),
    logger: captureLogger().logger,
    clock,
    random,
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
  await stepUntil(clock, firstManager, 'web-http to pass', () => checkOf(first, 'web-http')?.status === 'passing');
  // Reported just before the stop, so the wait above cannot outlast the TTL.
  await firstManager.updateTtl('worker-ttl', 'passing', 'alive');
  await firstManager.stop();
  await first.close();

  // While the server is down the target fails; the restarted manager must notice on its own.
  target.behaviour = { kind: 'status', status: 503 };
  // Time passes while the server is down; none of it counts against the TTL.
  await clock.advance(60_000);
  const second = await openCatalog(file, clock);
  const secondManager = new HealthManager({
    catalog: second,
    config,
    registry: new Registry(),
    logger: captureLogger().logger,
    clock,
    random,
  });
  t.teardown(async () => {
    await secondManager.stop();
    await second.close();
  });
  t.equal(checkOf(second, 'web-http')?.status, 'passing', 'the stored status survives the restart');
  t.equal(checkOf(second, 'worker-ttl')?.status, 'passing');
  const startedAt = clock.now();
  secondManager.start();
  t.equal(secondManager.managed, 2, 'every stored check is under management again');
  await stepUntil(clock, secondManager, 'web-http to fail', () => checkOf(second, 'web-http')?.status === 'critical');
  await stepUntil(
    clock,
    secondManager,
    'the TTL to run out',
    () => checkOf(second, 'worker-ttl')?.status === 'critical',
  );
  const expired = await waitForStatus(second, 'worker-ttl', 'critical');
  t.ok(expired.statusChangedAt - startedAt >= 290, 'the TTL deadline counts from start-up');
});

t.test('re-registering with a new target and interval moves the schedule to them', async (t) => {
  const oldTarget = await startHttpTarget(t, { kind: 'status', status: 200 });
  const newTarget = await startHttpTarget(t, { kind: 'status', status: 200 });
  // random 0: the first run comes at once and the second a full interval (5 s) later.
  const { catalog, manager, clock } = await startHealth(t, {}, { random: () => 0 });
  const registration = { id: 'web-1', name: 'web', address: '127.0.0.1', port: 80 };
  await catalog.register({
    ...registration,
    checks: [{ id: 'moving', type: 'http', http: oldTarget.url, interval: '5s', timeout: '1s' }],
  });
  const firstRunAt = await step(clock, manager);
  t.equal(oldTarget.requests.length, 1, 'the first run against the old target');
  await catalog.register({
    ...registration,
    checks: [{ id: 'moving', type: 'http', http: newTarget.url, interval: '100ms', timeout: '80ms' }],
  });
  // Past the old schedule's next run (5 s after the first), so a run it kept would show.
  await stepUntil(
    clock,
    manager,
    'runs at the new interval against the new target, past the old next run',
    () => newTarget.requests.length >= 4 && clock.now() > firstRunAt + 5000,
  );
  t.equal(oldTarget.requests.length, 1, 'the old target is no longer checked');
});

t.test('re-registering the same check keeps its schedule', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200 });
  const { catalog, manager, clock } = await startHealth(t, {}, { random: () => 0 });
  const registration = {
    id: 'web-1',
    name: 'web',
    address: '127.0.0.1',
    port: 80,
    checks: [{ id: 'steady', type: 'http' as const, http: target.url, interval: '5s', timeout: '1s' }],
  };
  await catalog.register(registration);
  await step(clock, manager);
  t.equal(target.requests.length, 1, 'the first run');
  await catalog.register(registration);
  await clock.advance(200);
  await manager.settled();
  t.equal(target.requests.length, 1, 'no extra run: the next one is still 5 s away');
});

t.test('deregistering an instance stops its checks', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200 });
  const { catalog, manager, clock } = await startHealth(t);
  await catalog.register({
    id: 'web-1',
    name: 'web',
    address: '127.0.0.1',
    port: 80,
    checks: [{ id: 'gone', type: 'http', http: target.url, interval: '50ms', timeout: '40ms' }],
  });
  await stepUntil(clock, manager, 'two runs', () => target.requests.length >= 2);
  // A third run starts and the instance goes while it is on its way.
  await clock.runNext();
  t.equal(manager.inFlight, 1, 'a run is in flight at the removal');
  await catalog.deregister('web-1');
  t.equal(manager.managed, 0);
  // A run cut off by the removal may have sent its request already; once its connection is
  // closed on both ends, the target can receive nothing more from it.
  await manager.settled();
  t.equal(manager.inFlight, 0);
  await target.until('every connection to the target to close', () => target.openSockets === 0);
  const seen = target.requests.length;
  await clock.advance(200);
  await manager.settled();
  t.equal(target.requests.length, seen, 'no run after the removal');
});

t.test('no more than maxConcurrent checks run at once; the others queue and their lag shows it', async (t) => {
  const target = await startHttpTarget(t, { kind: 'hang' });
  const { catalog, manager, registry, clock } = await startHealth(t, { maxConcurrent: 2 }, { random: () => 0 });
  // The most runs in flight, read at every request the target receives and after every step:
  // a run starts at a step or when another's slot frees, and sends its request then.
  let most = 0;
  const sample = () => (most = Math.max(most, manager.inFlight));
  const requests = async (count: number) => {
    await target.until(`${count} requests at the target`, () => {
      sample();
      return target.requests.length >= count;
    });
  };
  // Registered together, the six land in one commit and are all due at once (random 0). The
  // target never answers, so each run holds its slot for the whole 300 ms timeout: runs 3-4 can
  // start only when 1-2 time out, and 5-6 only when 3-4 do, 300 and 600 ms after their plan.
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
  for (const count of [2, 4, 6]) {
    await clock.runNext();
    sample();
    await requests(count);
  }
  t.equal(target.requests.length, 6, 'every check has run once');
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
  const { catalog, manager, clock } = await startHealth(t, {}, { random: () => 0.25 });
  const registeredAt = clock.now();
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: 80,
    checks: [{ id: 'prompt', type: 'http', http: target.url, interval: '1m', timeout: '1s' }],
  });
  // A first run planned from the full interval would come 15 s (1m × 0.25) after registration.
  await step(clock, manager);
  const check = await waitForStatus(catalog, 'prompt', 'passing');
  const delay = check.statusChangedAt - registeredAt;
  t.ok(delay >= 240 && delay < 3000, `first run after min(interval, 1s) × 0.25 = 250 ms (took ${delay} ms)`);
});

t.test('identical results write nothing; a status change bumps the index', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200, body: 'same' });
  const { catalog, manager, clock } = await startHealth(t);
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: 80,
    checks: [{ id: 'quiet', type: 'http', http: target.url, ...runTiming }],
  });
  await step(clock, manager);
  await waitForStatus(catalog, 'quiet', 'passing');
  const index = catalog.index;
  const seen = target.requests.length;
  await stepUntil(clock, manager, 'four more runs', () => target.requests.length >= seen + 4);
  t.equal(catalog.index, index, 'unchanged results leave the index alone');
  target.behaviour = { kind: 'status', status: 500, body: 'same' };
  await step(clock, manager);
  await waitForStatus(catalog, 'quiet', 'critical');
  t.equal(catalog.index, index + 1, 'the status change is one write');
});

t.test('the metrics count results, status changes and runs in flight', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200 });
  const { catalog, registry, manager, clock } = await startHealth(t);
  await catalog.register({
    name: 'web',
    address: '127.0.0.1',
    port: 80,
    checks: [{ id: 'counted', type: 'http', http: target.url, ...runTiming }],
  });
  await step(clock, manager);
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
  const clock = new VirtualClock();
  const catalog = await openCatalog(file, clock);
  t.teardown(() => catalog.close());
  const before = { sockets: count('TCPSocketWrap'), timers: count('Timeout') };
  const manager = new HealthManager({
    catalog,
    config: healthConfig(),
    registry: new Registry(),
    logger: captureLogger().logger,
    clock,
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
  await clock.runNext();
  await target.until('the http check to reach its target', () => target.requests.length === 1);
  await waitForStatus(catalog, 'db-tcp', 'passing');
  t.equal(manager.inFlight, 1, 'the http check is in flight, the tcp check done');
  t.ok(count('TCPSocketWrap') > before.sockets, 'the running check holds a socket');
  await manager.stop();
  t.equal(manager.inFlight, 0);
  // The targets' own server-side sockets close a moment after ours; they are not the manager's.
  t.ok(
    count('TCPSocketWrap') - target.openSockets - listener.openSockets <= before.sockets,
    'no client socket left open',
  );
  t.ok(count('Timeout') <= before.timers, 'no timer left behind');
  t.equal(clock.pending, 0, 'no timer left on the clock the manager was given');
  t.equal(checkOf(catalog, 'stuck')?.status, 'critical', 'a cancelled run records nothing');
  t.equal(checkOf(catalog, 'stuck')?.note, '');
});

t.test('a check whose request cannot even be built turns critical and keeps being scheduled', async (t) => {
  const target = await startHttpTarget(t, { kind: 'status', status: 200 });
  const { catalog, manager, clock } = await startHealth(t);
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
  await step(clock, manager);
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
  await step(clock, manager);
  await waitForStatus(catalog, 'euro-http', 'passing');
  t.pass('after the registration is fixed, the same check runs again and passes');
});

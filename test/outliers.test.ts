import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { json, startTestKonsul, type TestKonsul } from './helpers/konsul.js';

const run = promisify(execFile);

async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args]);
  return stdout;
}

/** A clock the test moves by hand: ejections start and end only when it says so. */
function manualClock() {
  let now = Date.UTC(2026, 0, 1);
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

async function registerWeb(server: TestKonsul, count: number): Promise<void> {
  for (let n = 1; n <= count; n++) {
    const response = await server.app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: { id: `web-${n}`, name: 'web', address: `10.0.0.${n}`, port: 8080 },
    });
    if (response.statusCode !== 200) throw new Error(response.body);
  }
}

interface Outcome {
  id: string;
  consecutiveFailures: number;
  ejected: boolean;
  ejectedUntil: number | null;
}

async function report(server: TestKonsul, id: string, body: Record<string, number>) {
  return server.app.inject({ method: 'POST', url: `/catalog/instances/${id}/outcomes`, payload: body });
}

const answered = async (server: TestKonsul) =>
  json<{ id: string }[]>(await server.app.inject({ url: '/catalog/services/web' }))
    .map((instance) => instance.id)
    .sort();

t.test('consecutive failures eject an instance from HTTP and DNS answers for a time that grows', async (t) => {
  const clock = manualClock();
  const server = await startTestKonsul(
    t,
    {
      dns: { enabled: true },
      lb: {
        outlierDetection: {
          consecutiveFailures: 3,
          baseEjectionTime: '30s',
          maxEjectionTime: '75s',
          maxEjectionPercent: 50,
        },
      },
    },
    { now: clock.now },
  );
  await registerWeb(server, 3);
  const two = json<Outcome>(await report(server, 'web-2', { failures: 2 }));
  t.same(two, { id: 'web-2', consecutiveFailures: 2, ejected: false, ejectedUntil: null });
  await report(server, 'web-2', { successes: 1 });
  t.equal(
    json<Outcome>(await report(server, 'web-2', { failures: 2 })).consecutiveFailures,
    2,
    'a success resets the streak',
  );
  const third = json<Outcome>(await report(server, 'web-2', { failures: 1 }));
  t.equal(third.ejected, true);
  t.equal(third.ejectedUntil, clock.now() + 30_000, 'the first ejection lasts the base time');
  t.same(await answered(server), ['web-1', 'web-3']);
  const a = await dig(server.dns!.port, 'web.service.konsul', 'A', '+short');
  t.same(a.trim().split('\n').sort(), ['10.0.0.1', '10.0.0.3']);
  const explained = json<{ excluded: { id: string; reason: string }[] }>(
    await server.app.inject({ url: '/catalog/services/web?explain=true' }),
  );
  t.same(
    explained.excluded.map(({ id, reason }) => ({ id, reason })),
    [{ id: 'web-2', reason: 'ejected' }],
  );
  t.ok(
    server.logs.some((line) => line.includes('outlier ejected from answers') && line.includes('web-2')),
    'the ejection is logged',
  );
  const metrics = (await server.app.inject({ url: '/metrics' })).body;
  t.match(metrics, /konsul_lb_ejections_total\{service="web",reason="consecutive-failures"\} 1/);
  t.match(metrics, /konsul_lb_ejected_instances\{service="web"\} 1/);

  clock.advance(29_999);
  t.same(await answered(server), ['web-1', 'web-3'], 'still out 1 ms before the end');
  clock.advance(1);
  t.same(await answered(server), ['web-1', 'web-2', 'web-3'], 'back when the time is up');
  const back = await dig(server.dns!.port, 'web.service.konsul', 'A', '+short');
  t.same(back.trim().split('\n').sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);

  const second = json<Outcome>(await report(server, 'web-2', { failures: 3 }));
  t.equal(second.ejectedUntil, clock.now() + 60_000, 'the second ejection lasts twice the base');
  clock.advance(60_000);
  const thirdTime = json<Outcome>(await report(server, 'web-2', { failures: 3 }));
  t.equal(thirdTime.ejectedUntil, clock.now() + 75_000, 'never longer than maxEjectionTime');
});

t.test('the ejection time decays back one step per interval in answers, and stops rising at the maximum', async (t) => {
  const clock = manualClock();
  const server = await startTestKonsul(
    t,
    {
      lb: {
        outlierDetection: {
          consecutiveFailures: 1,
          interval: '10s',
          baseEjectionTime: '30s',
          maxEjectionTime: '75s',
          maxEjectionPercent: 50,
        },
      },
    },
    { now: clock.now },
  );
  await registerWeb(server, 3);
  /** Ejects web-2 once more and returns how long the ejection lasts, then lets it end. */
  const ejectFor = async (): Promise<number> => {
    const outcome = json<Outcome>(await report(server, 'web-2', { failures: 1 }));
    t.equal(outcome.ejected, true);
    const lasts = outcome.ejectedUntil! - clock.now();
    clock.advance(lasts);
    return lasts;
  };
  t.equal(await ejectFor(), 30_000, 'first: the base time');
  t.equal(await ejectFor(), 60_000, 'again at once: twice the base');
  clock.advance(10_000);
  t.equal(await ejectFor(), 60_000, 'after one interval in answers the multiplier fell from 2 to 1, then rose to 2');
  clock.advance(25_000);
  t.equal(await ejectFor(), 30_000, 'after two whole intervals it fell to 0: the base time again');
  for (const expected of [60_000, 75_000, 75_000, 75_000, 75_000]) t.equal(await ejectFor(), expected);
  clock.advance(10_000);
  t.equal(
    await ejectFor(),
    75_000,
    'the multiplier stopped at 3 (30 s x 3 is past the 75 s maximum): one interval brings it to 2, and 3 again is 75 s',
  );
  clock.advance(20_000);
  t.equal(await ejectFor(), 60_000, 'two intervals: from 3 to 1, then 2 for this ejection; not five intervals of 75 s');
});

t.test('never more than maxEjectionPercent of a service is ejected at once', async (t) => {
  const clock = manualClock();
  const server = await startTestKonsul(
    t,
    { lb: { outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 20 } } },
    { now: clock.now },
  );
  await registerWeb(server, 10);
  const results: Outcome[] = [];
  for (let n = 1; n <= 5; n++) results.push(json<Outcome>(await report(server, `web-${n}`, { failures: 5 })));
  t.same(
    results.map((result) => result.ejected),
    [true, true, false, false, false],
    '20 % of 10 instances: two',
  );
  t.equal((await answered(server)).length, 8);
  t.ok(
    server.logs.some((line) => line.includes('maxEjectionPercent')),
    'a capped ejection is logged',
  );
  // One instance always may be ejected, however small the share.
  const small = await startTestKonsul(
    t,
    { lb: { outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 1 } } },
    { now: clock.now },
  );
  await registerWeb(small, 2);
  t.equal(json<Outcome>(await report(small, 'web-1', { failures: 1 })).ejected, true);
  t.equal(json<Outcome>(await report(small, 'web-2', { failures: 1 })).ejected, false);
});

t.test('a success rate far below its peers ejects an instance at the end of an interval', async (t) => {
  const clock = manualClock();
  const server = await startTestKonsul(
    t,
    {
      lb: {
        outlierDetection: {
          consecutiveFailures: 0,
          interval: '10s',
          maxEjectionPercent: 50,
          successRateMinimumHosts: 5,
          successRateRequestVolume: 100,
          successRateStdevFactor: 1.9,
        },
      },
    },
    { now: clock.now },
  );
  await registerWeb(server, 6);
  for (let n = 1; n <= 5; n++) await report(server, `web-${n}`, { successes: 98 + (n % 3), failures: 2 - (n % 3) + 1 });
  const bad = json<Outcome>(await report(server, 'web-6', { successes: 60, failures: 40 }));
  t.equal(bad.ejected, false, 'nothing is judged before the interval ends');
  clock.advance(10_000);
  const judged = json<Outcome>(await report(server, 'web-6', { successes: 1 }));
  t.equal(judged.ejected, true, 'web-6 (60 %) is far below its peers (~98 %)');
  t.same(await answered(server), ['web-1', 'web-2', 'web-3', 'web-4', 'web-5']);
});

t.test('outcome reports are validated and rate-limited like every write', async (t) => {
  const clock = manualClock();
  const server = await startTestKonsul(t, { limits: { writesPerSecond: 1, writeBurst: 3 } }, { now: clock.now });
  await registerWeb(server, 1);
  clock.advance(10_000);
  const empty = await report(server, 'web-1', {});
  t.equal(empty.statusCode, 400);
  const negative = await report(server, 'web-1', { failures: -1 });
  t.equal(negative.statusCode, 400);
  const unknown = await report(server, 'nope', { failures: 1 });
  t.equal(unknown.statusCode, 404);
  const limited = await report(server, 'web-1', { failures: 1 });
  t.equal(limited.statusCode, 429, 'the fourth write in a second is refused');
  t.equal(json<{ error: { code: string } }>(limited).error.code, 'rate_limited');
});

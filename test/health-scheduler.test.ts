import t from 'tap';
import type { Clock } from '../src/clock.js';
import { Scheduler, type ScheduledJob } from '../src/health/scheduler.js';
import { seeded } from './helpers/seeded.js';
import { VirtualClock } from './helpers/virtual-clock.js';

interface Job extends ScheduledJob {
  name: string;
}

const job = (name: string): Job => ({ name, dueAt: 0, heapIndex: -1 });

function harness(t: { teardown(fn: () => unknown): void }) {
  const clock = new VirtualClock();
  const fired: { name: string; at: number; dueAt: number }[] = [];
  const scheduler = new Scheduler<Job>(clock, (due) =>
    fired.push({ name: due.name, at: clock.now(), dueAt: due.dueAt }),
  );
  t.teardown(() => scheduler.clear());
  return { scheduler, fired, clock };
}

t.test('jobs fire in due order, not in the order they were scheduled', async (t) => {
  const { scheduler, fired, clock } = harness(t);
  const now = clock.now();
  const names = ['e', 'b', 'd', 'a', 'c'];
  const offsets: Record<string, number> = { a: 10, b: 20, c: 30, d: 40, e: 50 };
  for (const name of names) scheduler.schedule(job(name), now + offsets[name]);
  t.equal(scheduler.size, 5);
  await clock.advance(90);
  t.same(
    fired.map((entry) => entry.name),
    ['a', 'b', 'c', 'd', 'e'],
  );
  for (const entry of fired)
    t.ok(entry.at >= entry.dueAt - 3, `${entry.name} did not fire early (${entry.at - entry.dueAt} ms)`);
  t.same(
    fired.map((entry) => entry.at - now),
    [10, 20, 30, 40, 50],
    'each at its due time',
  );
  t.equal(scheduler.size, 0);
});

t.test('many jobs with random due times come out sorted', async (t) => {
  const { scheduler, fired, clock } = harness(t);
  const random = seeded(15);
  const now = clock.now();
  for (let n = 0; n < 500; n++) scheduler.schedule(job(String(n)), now + random.int(40));
  await clock.advance(80);
  t.equal(fired.length, 500);
  t.ok(
    fired.every((entry, index) => index === 0 || fired[index - 1].dueAt <= entry.dueAt),
    `non-decreasing due times (seed ${random.seed})`,
  );
});

t.test('rescheduling a job moves it instead of adding a second entry', async (t) => {
  const clock = new VirtualClock();
  const start = clock.now();
  const fired: Job[] = [];
  const scheduler = new Scheduler<Job>(clock, (due) => fired.push(due));
  t.teardown(() => scheduler.clear());
  const moving = job('moving');
  scheduler.schedule(moving, start + 10);
  scheduler.schedule(moving, start + 40);
  t.equal(scheduler.size, 1);
  await clock.advance(25);
  t.same(fired, [], 'not at the first time');
  await clock.advance(15);
  t.equal(fired.length, 1, 'at the second time');
  await clock.advance(20);
  t.same(
    fired.map((entry) => [entry.name, entry.dueAt]),
    [['moving', start + 40]],
    'once, at the second time',
  );
  t.equal(scheduler.size, 0);
});

t.test('a cancelled job never fires, and the others still do', async (t) => {
  const { scheduler, fired, clock } = harness(t);
  const jobs = ['a', 'b', 'c', 'd'].map(job);
  jobs.forEach((each, index) => scheduler.schedule(each, clock.now() + 10 + index * 5));
  scheduler.cancel(jobs[0]);
  scheduler.cancel(jobs[2]);
  scheduler.cancel(jobs[2]);
  t.equal(jobs[0].heapIndex, -1);
  await clock.advance(50);
  t.same(
    fired.map((entry) => entry.name),
    ['b', 'd'],
  );
});

t.test('a job scheduled from inside onDue is honoured', async (t) => {
  const clock = new VirtualClock();
  const fired: number[] = [];
  const repeating = job('repeat');
  const scheduler: Scheduler<Job> = new Scheduler<Job>(clock, () => {
    fired.push(clock.now());
    if (fired.length < 3) scheduler.schedule(repeating, clock.now() + 10);
  });
  t.teardown(() => scheduler.clear());
  const start = clock.now();
  scheduler.schedule(repeating, start);
  await clock.advance(25);
  t.equal(fired.length, 3, 'the chain ran to where onDue stopped asking');
  await clock.advance(30);
  t.equal(fired.length, 3);
  t.same(
    fired.map((at) => at - start),
    [1, 11, 21],
    'each 10 ms after the last (a job due now waits the 1 ms a zero-delay timer takes)',
  );
});

t.test('clear() drops every job and leaves no timer', async (t) => {
  const { scheduler, fired, clock } = harness(t);
  const timers = () => clock.pending;
  const before = timers();
  const jobs = ['a', 'b'].map(job);
  for (const each of jobs) scheduler.schedule(each, clock.now() + 20);
  t.equal(timers(), before + 1, 'one timer however many jobs');
  scheduler.clear();
  t.equal(timers(), before);
  t.ok(jobs.every((each) => each.heapIndex === -1));
  await clock.advance(40);
  t.same(fired, []);
});

t.test('a clock that lags the timers still fires a due job, once', async (t) => {
  const timers = new VirtualClock();
  const fake = 1_000;
  // now() stands still while the timers' time moves on, as a wall clock stepped back would.
  const lagging: Clock = { now: () => fake, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout };
  const fired: string[] = [];
  const scheduler = new Scheduler<Job>(lagging, (due) => fired.push(due.name));
  t.teardown(() => scheduler.clear());
  scheduler.schedule(job('late'), 1_020);
  // The timers' 20 ms pass and 40 more, the injected clock does not move: the job still fires, once.
  await timers.advance(60);
  t.same(fired, ['late']);
  t.equal(timers.pending, 0, 'and nothing is left re-arming');
});

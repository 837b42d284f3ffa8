import t from 'tap';
import { Scheduler, type ScheduledJob } from '../src/health/scheduler.js';
import { waitUntil } from './helpers/wait.js';

interface Job extends ScheduledJob {
  name: string;
}

const job = (name: string): Job => ({ name, dueAt: 0, heapIndex: -1 });

function harness(t: { teardown(fn: () => unknown): void }) {
  const fired: { name: string; at: number; dueAt: number }[] = [];
  const scheduler = new Scheduler<Job>(Date.now, (due) =>
    fired.push({ name: due.name, at: Date.now(), dueAt: due.dueAt }),
  );
  t.teardown(() => scheduler.clear());
  return { scheduler, fired };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('jobs fire in due order, not in the order they were scheduled', async (t) => {
  const { scheduler, fired } = harness(t);
  const now = Date.now();
  const names = ['e', 'b', 'd', 'a', 'c'];
  const offsets: Record<string, number> = { a: 10, b: 20, c: 30, d: 40, e: 50 };
  for (const name of names) scheduler.schedule(job(name), now + offsets[name]);
  t.equal(scheduler.size, 5);
  await sleep(90);
  t.same(
    fired.map((entry) => entry.name),
    ['a', 'b', 'c', 'd', 'e'],
  );
  // Node times a timer from the event loop's cached clock, which can trail Date.now() by a
  // millisecond or two; more than that would be a scheduler bug.
  for (const entry of fired)
    t.ok(entry.at >= entry.dueAt - 3, `${entry.name} did not fire early (${entry.at - entry.dueAt} ms)`);
  t.equal(scheduler.size, 0);
});

t.test('many jobs with random due times come out sorted', async (t) => {
  const { scheduler, fired } = harness(t);
  const now = Date.now();
  for (let n = 0; n < 500; n++) scheduler.schedule(job(String(n)), now + Math.floor(Math.random() * 40));
  await sleep(80);
  t.equal(fired.length, 500);
  t.ok(
    fired.every((entry, index) => index === 0 || fired[index - 1].dueAt <= entry.dueAt),
    'non-decreasing due times',
  );
});

t.test('rescheduling a job moves it instead of adding a second entry', async (t) => {
  // A frozen clock: the timer armed for the first time wakes, finds nothing due and re-arms a
  // full 40 ms later, so a stalled event loop cannot make the moved job look due early.
  const clock = Date.now();
  const fired: Job[] = [];
  const scheduler = new Scheduler<Job>(
    () => clock,
    (due) => fired.push(due),
  );
  t.teardown(() => scheduler.clear());
  const moving = job('moving');
  scheduler.schedule(moving, clock + 10);
  scheduler.schedule(moving, clock + 40);
  t.equal(scheduler.size, 1);
  await sleep(25);
  t.same(fired, [], 'not at the first time');
  await waitUntil(() => fired.length > 0);
  await sleep(20);
  t.same(
    fired.map((entry) => [entry.name, entry.dueAt]),
    [['moving', clock + 40]],
    'once, at the second time',
  );
  t.equal(scheduler.size, 0);
});

t.test('a cancelled job never fires, and the others still do', async (t) => {
  const { scheduler, fired } = harness(t);
  const jobs = ['a', 'b', 'c', 'd'].map(job);
  jobs.forEach((each, index) => scheduler.schedule(each, Date.now() + 10 + index * 5));
  scheduler.cancel(jobs[0]);
  scheduler.cancel(jobs[2]);
  scheduler.cancel(jobs[2]);
  t.equal(jobs[0].heapIndex, -1);
  await sleep(50);
  t.same(
    fired.map((entry) => entry.name),
    ['b', 'd'],
  );
});

t.test('a job scheduled from inside onDue is honoured', async (t) => {
  const fired: number[] = [];
  const repeating = job('repeat');
  const scheduler: Scheduler<Job> = new Scheduler<Job>(Date.now, () => {
    fired.push(Date.now());
    if (fired.length < 3) scheduler.schedule(repeating, Date.now() + 10);
  });
  t.teardown(() => scheduler.clear());
  scheduler.schedule(repeating, Date.now());
  // Each run plans the next from its own start, so a stalled loop stretches the chain: wait for
  // it, then make sure it stopped where onDue stopped asking.
  await waitUntil(() => fired.length >= 3);
  await sleep(30);
  t.equal(fired.length, 3);
});

t.test('clear() drops every job and leaves no timer', async (t) => {
  const { scheduler, fired } = harness(t);
  const timers = () => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
  const before = timers();
  const jobs = ['a', 'b'].map(job);
  for (const each of jobs) scheduler.schedule(each, Date.now() + 20);
  t.equal(timers(), before + 1, 'one timer however many jobs');
  scheduler.clear();
  t.equal(timers(), before);
  t.ok(jobs.every((each) => each.heapIndex === -1));
  await sleep(40);
  t.same(fired, []);
});

t.test('a clock that lags the timers still fires a due job, once', async (t) => {
  const fake = 1_000;
  const fired: string[] = [];
  const scheduler = new Scheduler<Job>(
    () => fake,
    (due) => fired.push(due.name),
  );
  t.teardown(() => scheduler.clear());
  scheduler.schedule(job('late'), 1_020);
  // The real 20 ms pass, the injected clock does not move: the job still fires, once.
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.same(fired, ['late']);
});

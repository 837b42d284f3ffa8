import t from 'tap';
import { Deadlines } from '../src/health/deadlines.js';
import { sleep, waitUntil } from './helpers/wait.js';

t.test('a deadline fires once at its time; setting the key again replaces it', async (t) => {
  const deadlines = new Deadlines(Date.now);
  t.teardown(() => deadlines.clear());
  const fired: string[] = [];
  deadlines.set('a', Date.now() + 20, () => fired.push('first'));
  deadlines.set('a', Date.now() + 100, () => fired.push('second'));
  t.equal(deadlines.size, 1);
  await sleep(50);
  t.same(fired, [], 'the replaced deadline did not fire');
  await waitUntil(() => fired.length > 0);
  t.same(fired, ['second']);
  t.notOk(deadlines.has('a'), 'a fired deadline is forgotten');
});

t.test(
  'a timer that wakes before the clock reaches the deadline waits out the rest instead of firing early',
  async (t) => {
    let skew = 0;
    const now = () => Date.now() + skew;
    const deadlines = new Deadlines(now);
    t.teardown(() => deadlines.clear());
    const at = now() + 20;
    let firedAt: number | undefined;
    deadlines.set('d', at, () => (firedAt = now()));
    // The clock falls 60 ms behind the timer, as a wall clock can behind a monotonic one.
    skew = -60;
    await waitUntil(() => firedAt !== undefined);
    t.ok(firedAt! >= at, `fired at ${firedAt! - at} ms past the deadline, never before`);
  },
);

t.test('a deadline already past fires at once', async (t) => {
  const deadlines = new Deadlines(Date.now);
  t.teardown(() => deadlines.clear());
  let fired = false;
  deadlines.set('late', Date.now() - 1000, () => (fired = true));
  await sleep(5);
  t.ok(fired);
});

t.test('cancel and clear stop deadlines and release their timers', async (t) => {
  const deadlines = new Deadlines(Date.now);
  const timers = () => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
  const before = timers();
  const fired: string[] = [];
  for (const key of ['a', 'b', 'c']) deadlines.set(key, Date.now() + 20, () => fired.push(key));
  deadlines.cancel('a');
  t.equal(deadlines.size, 2);
  deadlines.clear();
  t.equal(timers(), before);
  await sleep(40);
  t.same(fired, []);
});

t.test('a deadline beyond the 24.8-day timer limit is not fired early', async (t) => {
  const deadlines = new Deadlines(Date.now);
  t.teardown(() => deadlines.clear());
  let fired = false;
  deadlines.set('far', Date.now() + 40 * 24 * 3_600_000, () => (fired = true));
  await sleep(10);
  t.notOk(fired, 'setTimeout would have fired an overflowing delay at once');
  t.ok(deadlines.has('far'));
});

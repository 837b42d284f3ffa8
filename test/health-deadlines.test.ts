import t from 'tap';
import type { Clock } from '../src/clock.js';
import { Deadlines } from '../src/health/deadlines.js';
import { VirtualClock } from './helpers/virtual-clock.js';

t.test('a deadline fires once at its time; setting the key again replaces it', async (t) => {
  const clock = new VirtualClock();
  const deadlines = new Deadlines(clock);
  t.teardown(() => deadlines.clear());
  const fired: string[] = [];
  deadlines.set('a', clock.now() + 20, () => fired.push('first'));
  deadlines.set('a', clock.now() + 100, () => fired.push('second'));
  t.equal(deadlines.size, 1);
  await clock.advance(50);
  t.same(fired, [], 'the replaced deadline did not fire');
  await clock.advance(49);
  t.same(fired, [], 'not before its time');
  await clock.advance(1);
  t.same(fired, ['second']);
  t.notOk(deadlines.has('a'), 'a fired deadline is forgotten');
});

t.test(
  'a timer that wakes before the clock reaches the deadline waits out the rest instead of firing early',
  async (t) => {
    const timers = new VirtualClock();
    let skew = 0;
    const clock: Clock = {
      now: () => timers.now() + skew,
      setTimeout: timers.setTimeout,
      clearTimeout: timers.clearTimeout,
    };
    const deadlines = new Deadlines(clock);
    t.teardown(() => deadlines.clear());
    const at = clock.now() + 20;
    let firedAt: number | undefined;
    deadlines.set('d', at, () => (firedAt = clock.now()));
    // The clock falls 60 ms behind the timer, as a wall clock can behind a monotonic one.
    skew = -60;
    await timers.advance(20);
    t.equal(firedAt, undefined, 'the timer woke with the clock still short of the deadline');
    await timers.advance(60);
    t.ok(firedAt !== undefined && firedAt >= at, `fired at ${firedAt! - at} ms past the deadline, never before`);
  },
);

t.test('a deadline already past fires at once', async (t) => {
  const clock = new VirtualClock();
  const deadlines = new Deadlines(clock);
  t.teardown(() => deadlines.clear());
  let fired = false;
  deadlines.set('late', clock.now() - 1000, () => (fired = true));
  await clock.advance(1);
  t.ok(fired);
});

t.test('cancel and clear stop deadlines and release their timers', async (t) => {
  const clock = new VirtualClock();
  const deadlines = new Deadlines(clock);
  const timers = () => clock.pending;
  const before = timers();
  const fired: string[] = [];
  for (const key of ['a', 'b', 'c']) deadlines.set(key, clock.now() + 20, () => fired.push(key));
  deadlines.cancel('a');
  t.equal(deadlines.size, 2);
  deadlines.clear();
  t.equal(timers(), before);
  await clock.advance(40);
  t.same(fired, []);
});

t.test('a deadline beyond the 24.8-day timer limit is not fired early', async (t) => {
  const clock = new VirtualClock();
  const deadlines = new Deadlines(clock);
  t.teardown(() => deadlines.clear());
  const days = 24 * 3_600_000;
  const at = clock.now() + 40 * days;
  let firedAt: number | undefined;
  deadlines.set('far', at, () => (firedAt = clock.now()));
  await clock.advance(10);
  t.equal(firedAt, undefined, 'setTimeout would have fired an overflowing delay at once');
  t.ok(deadlines.has('far'));
  t.ok(clock.nextAt! - clock.now() > days, 'it waits in long steps, not a wake-up every millisecond');
  await clock.advance(40 * days);
  t.equal(firedAt, at, 'it fires at its time, in steps a timer can take');
});

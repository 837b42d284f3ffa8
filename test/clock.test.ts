import t from 'tap';
import { MAX_TIMER_MS, systemClock } from '../src/clock.js';
import { VirtualClock } from './helpers/virtual-clock.js';

// The virtual clock stands in for systemClock in every health test, so it must keep the same
// contract: these tests hold both to it.

t.test('systemClock reads the epoch clock and runs and cancels real timers', async (t) => {
  const before = Date.now();
  t.ok(systemClock.now() >= before);
  const cancelled = systemClock.setTimeout(() => t.fail('a cleared timer fired'), 1);
  systemClock.clearTimeout(cancelled);
  // An overflowing delay fires at once, as Node's setTimeout does (the reason for MAX_TIMER_MS).
  await new Promise<void>((resolve) => systemClock.setTimeout(resolve, MAX_TIMER_MS + 1));
  t.pass('the overflowing timer fired');
});

t.test('a virtual clock fires timers in due order, same-time ones in the order they were set', async (t) => {
  const clock = new VirtualClock();
  const start = clock.now();
  const fired: string[] = [];
  const seenAt: number[] = [];
  for (const [name, delay] of [
    ['c', 30],
    ['a', 10],
    ['b1', 20],
    ['b2', 20],
  ] as const)
    clock.setTimeout(() => {
      fired.push(name);
      seenAt.push(clock.now() - start);
    }, delay);
  t.equal(clock.pending, 4);
  t.equal(clock.nextAt, start + 10);
  await clock.advance(20);
  t.same(fired, ['a', 'b1', 'b2'], 'everything due by then, no more');
  t.same(seenAt, [10, 20, 20], 'now() reads each timer its own due time');
  t.equal(clock.now(), start + 20);
  await clock.advance(100);
  t.same(fired, ['a', 'b1', 'b2', 'c']);
  t.equal(clock.now(), start + 120, 'the clock ends where it was sent');
  t.equal(clock.pending, 0);
});

t.test('a virtual clock keeps setTimeout delay rules: out of range is 1 ms, a fraction rounds up', async (t) => {
  const clock = new VirtualClock();
  const start = clock.now();
  const at: Record<string, number> = {};
  const mark = (name: string) => () => (at[name] = clock.now() - start);
  clock.setTimeout(mark('zero'), 0);
  clock.setTimeout(mark('negative'), -5);
  clock.setTimeout(mark('overflow'), MAX_TIMER_MS + 1);
  clock.setTimeout(mark('nan'), Number.NaN);
  clock.setTimeout(mark('fraction'), 2.2);
  await clock.advance(5);
  t.same(at, { zero: 1, negative: 1, overflow: 1, nan: 1, fraction: 3 });
});

t.test('a cleared virtual timer never fires; one set by a timer fires in the same advance', async (t) => {
  const clock = new VirtualClock();
  const fired: string[] = [];
  const cleared = clock.setTimeout(() => fired.push('cleared'), 5);
  clock.setTimeout(() => {
    fired.push('first');
    clock.setTimeout(() => fired.push('chained'), 5);
  }, 5);
  clock.clearTimeout(cleared);
  clock.clearTimeout(cleared);
  await clock.advance(10);
  t.same(fired, ['first', 'chained']);
});

t.test('promise chains a timer starts settle before the next timer fires', async (t) => {
  const clock = new VirtualClock();
  const order: string[] = [];
  clock.setTimeout(() => {
    void Promise.resolve()
      .then(() => undefined)
      .then(() => order.push('chain of the first'));
    // Work queued for the next turn of the loop, as the catalog queues its commits.
    setImmediate(() => order.push('immediate of the first'));
  }, 1);
  clock.setTimeout(() => order.push('second'), 1);
  await clock.advance(1);
  t.same(order, ['chain of the first', 'immediate of the first', 'second']);
});

t.test('runNext moves to the next timer; the clock never goes back', async (t) => {
  const clock = new VirtualClock();
  const start = clock.now();
  await t.rejects(clock.runNext(), /no timer is set/);
  let fired = 0;
  clock.setTimeout(() => fired++, 250);
  clock.setTimeout(() => fired++, 250);
  clock.setTimeout(() => fired++, 900);
  t.equal(await clock.runNext(), start + 250);
  t.equal(fired, 2, 'every timer due at that millisecond');
  await t.rejects(clock.advanceTo(start), /cannot go back/);
});

t.test('a timer that keeps re-arming itself fails the advance instead of spinning', async (t) => {
  const clock = new VirtualClock();
  const rearm = () => clock.setTimeout(rearm, 0);
  rearm();
  await t.rejects(clock.advance(60_000), /runaway timer/);
});

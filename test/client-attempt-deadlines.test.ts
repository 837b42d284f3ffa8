/**
 * The balancer's per-try timeouts share one timer and one queue (attempt-deadlines.ts): each
 * attempt is stopped at its own time, in deadline order, unless it finished first, however the
 * queue was emptied, compacted or refilled before. Attempts here are real Attempt objects with
 * no request behind them: stop() records its reason.
 */
import t from 'tap';
import { Attempt } from '../src/client/attempt.js';
import { AttemptDeadlines } from '../src/client/attempt-deadlines.js';
import { VirtualClock } from './helpers/virtual-clock.js';

const TIMEOUT = Symbol('per-try timeout');

function setup() {
  const clock = new VirtualClock();
  const deadlines = new AttemptDeadlines(clock, TIMEOUT);
  const start = (inMs: number): Attempt => {
    const attempt = new Attempt(clock.now() + inMs, undefined);
    deadlines.start(attempt);
    return attempt;
  };
  return { clock, deadlines, start };
}

t.test('attempts are stopped at their own time, a shorter one inserted ahead of longer ones', async (t) => {
  const { clock, deadlines, start } = setup();
  const stopped: string[] = [];
  const named = (name: string, inMs: number) => {
    const attempt = start(inMs);
    const stop = attempt.stop.bind(attempt);
    attempt.stop = (reason) => {
      // The queue may call stop() on a finished attempt as it passes it; only a live one stops.
      if (!attempt.done) stopped.push(`${name}@${clock.now()}`);
      stop(reason);
    };
    return attempt;
  };
  const epoch = clock.now();
  const a = named('a', 100);
  const b = named('b', 200);
  named('c', 50); // its call's overall deadline is near: ahead of a and b
  named('d', 300);
  deadlines.finish(b);
  await clock.advance(1000);
  t.same(
    stopped,
    [`c@${epoch + 50}`, `a@${epoch + 100}`, `d@${epoch + 300}`],
    'in deadline order, each at its time, the finished one never',
  );
  t.equal(a.reason, TIMEOUT);
  t.equal(b.reason, undefined, 'a finished attempt keeps no reason');
  t.equal(clock.pending, 0, 'no timer left once the queue is empty');
});

t.test('a queue emptied by finishes, or compacted after many, still stops the attempts left', async (t) => {
  const { clock, deadlines, start } = setup();
  // Sequential calls: each attempt finishes before the next starts, and the queue empties each time.
  for (let i = 0; i < 50; i++) deadlines.finish(start(1000));
  const lone = start(1000);
  await clock.advance(999);
  t.equal(lone.reason, undefined, 'not before its time');
  await clock.advance(1);
  t.equal(lone.reason, TIMEOUT, 'stopped at its time after the queue was emptied 50 times');

  // One long attempt stays while thousands of later ones start and finish behind it: the
  // finished head is dropped and the array compacted; the long one and a late one still fire.
  const long = start(60_000);
  const burst: Attempt[] = [];
  for (let i = 0; i < 3000; i++) burst.push(start(30_000 + i));
  for (const attempt of burst.slice(0, 2999)) deadlines.finish(attempt);
  const last = burst[2999];
  const after = start(60_001);
  await clock.advance(30_000 + 2999);
  t.equal(last.reason, TIMEOUT, 'the unfinished one among the burst is stopped at its time');
  t.ok(
    burst.slice(0, 2999).every((attempt) => attempt.reason === undefined),
    'no finished one is stopped',
  );
  t.equal(long.reason, undefined);
  await clock.advance(60_001);
  t.equal(long.reason, TIMEOUT, 'the long one is stopped');
  t.equal(after.reason, TIMEOUT, 'and the one started after the burst');
  t.equal(clock.pending, 0);
});

t.test('close stops every attempt in flight and the timer', async (t) => {
  const { clock, deadlines, start } = setup();
  const finished = start(100);
  const open = [start(200), start(300)];
  deadlines.finish(finished);
  const CLOSED = Symbol('closed');
  deadlines.close(CLOSED);
  t.same(
    open.map((attempt) => attempt.reason),
    [CLOSED, CLOSED],
  );
  t.equal(finished.reason, undefined);
  t.equal(clock.pending, 0);
});

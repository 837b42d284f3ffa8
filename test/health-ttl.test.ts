import t from 'tap';
import { TTL_EXPIRED_NOTE, TtlTracker } from '../src/health/ttl.js';
import { VirtualClock } from './helpers/virtual-clock.js';

function tracker(t: { teardown(fn: () => unknown): void }) {
  const clock = new VirtualClock();
  const expired: string[] = [];
  const expiredAt: number[] = [];
  const ttl = new TtlTracker(clock, (checkId) => {
    expired.push(checkId);
    expiredAt.push(clock.now());
  });
  t.teardown(() => ttl.clear());
  return { ttl, expired, expiredAt, clock };
}

t.test('the expiry note is "TTL expired"', async (t) => {
  t.equal(TTL_EXPIRED_NOTE, 'TTL expired');
});

t.test('a tracked check expires once its ttl passes without a heartbeat', async (t) => {
  const { ttl, expired, expiredAt, clock } = tracker(t);
  const trackedAt = clock.now();
  ttl.track('a', 100);
  t.ok(ttl.isTracked('a'));
  await clock.advance(50);
  t.same(expired, [], 'not before the ttl');
  await clock.advance(49);
  t.same(expired, [], 'not a millisecond before the ttl');
  await clock.advance(1);
  t.ok(expiredAt[0] - trackedAt >= 95, 'at the ttl');
  t.equal(expiredAt[0] - trackedAt, 100);
  t.same(expired, ['a']);
  t.ok(ttl.isTracked('a'), 'it stays tracked: the next heartbeat re-arms it');
});

t.test('each heartbeat moves the deadline a full ttl ahead', async (t) => {
  const { ttl, expired, expiredAt, clock } = tracker(t);
  ttl.track('a', 150);
  for (let beat = 0; beat < 4; beat++) {
    await clock.advance(60);
    t.ok(ttl.heartbeat('a'));
  }
  const lastBeat = clock.now();
  t.same(expired, [], 'four heartbeats over 240 ms kept a 150 ms ttl alive');
  await clock.advance(150);
  t.equal(expired.length, 1);
  t.equal(expiredAt[0] - lastBeat, 150, 'a full ttl after the last heartbeat');
  t.ok(ttl.heartbeat('a'), 'an expired check takes heartbeats again');
  await clock.advance(150);
  t.equal(expired.length, 2);
  t.same(expired, ['a', 'a']);
});

t.test('a heartbeat for an untracked check is refused', async (t) => {
  const { ttl } = tracker(t);
  t.notOk(ttl.heartbeat('nope'));
});

t.test('forget and clear stop deadlines', async (t) => {
  const { ttl, expired, clock } = tracker(t);
  ttl.track('a', 30);
  ttl.track('b', 30);
  ttl.forget('a');
  t.equal(ttl.size, 1);
  ttl.clear();
  t.equal(ttl.size, 0);
  await clock.advance(80);
  t.same(expired, []);
});

t.test("forget stops that check's deadline and leaves the others", async (t) => {
  const { ttl, expired, clock } = tracker(t);
  ttl.track('a', 30);
  ttl.track('b', 30);
  ttl.forget('a');
  t.notOk(ttl.isTracked('a'));
  await clock.advance(30);
  t.same(expired, ['b']);
  t.equal(clock.pending, 0, "a's timer went with it");
});

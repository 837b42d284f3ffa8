import t from 'tap';
import { TTL_EXPIRED_NOTE, TtlTracker } from '../src/health/ttl.js';
import { sleep, waitUntil } from './helpers/wait.js';

function tracker(t: { teardown(fn: () => unknown): void }) {
  const expired: string[] = [];
  const ttl = new TtlTracker(Date.now, (checkId) => expired.push(checkId));
  t.teardown(() => ttl.clear());
  return { ttl, expired };
}

t.test('the expiry note is "TTL expired"', async (t) => {
  t.equal(TTL_EXPIRED_NOTE, 'TTL expired');
});

t.test('a tracked check expires once its ttl passes without a heartbeat', async (t) => {
  const { ttl, expired } = tracker(t);
  const trackedAt = Date.now();
  ttl.track('a', 100);
  t.ok(ttl.isTracked('a'));
  await sleep(50);
  t.same(expired, [], 'not before the ttl');
  await waitUntil(() => expired.length > 0);
  t.ok(Date.now() - trackedAt >= 95, 'at the ttl');
  t.same(expired, ['a']);
  t.ok(ttl.isTracked('a'), 'it stays tracked: the next heartbeat re-arms it');
});

t.test('each heartbeat moves the deadline a full ttl ahead', async (t) => {
  const { ttl, expired } = tracker(t);
  ttl.track('a', 150);
  for (let beat = 0; beat < 4; beat++) {
    await sleep(60);
    t.ok(ttl.heartbeat('a'));
  }
  t.same(expired, [], 'four heartbeats over 240 ms kept a 150 ms ttl alive');
  await waitUntil(() => expired.length === 1);
  t.ok(ttl.heartbeat('a'), 'an expired check takes heartbeats again');
  await waitUntil(() => expired.length === 2);
  t.same(expired, ['a', 'a']);
});

t.test('a heartbeat for an untracked check is refused', async (t) => {
  const { ttl } = tracker(t);
  t.notOk(ttl.heartbeat('nope'));
});

t.test('forget and clear stop deadlines', async (t) => {
  const { ttl, expired } = tracker(t);
  ttl.track('a', 30);
  ttl.track('b', 30);
  ttl.forget('a');
  t.equal(ttl.size, 1);
  ttl.clear();
  t.equal(ttl.size, 0);
  await sleep(80);
  t.same(expired, []);
});

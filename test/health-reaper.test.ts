import t from 'tap';
import type { Check } from '../src/catalog/types.js';
import { CriticalReaper, type ReapNotice } from '../src/health/reaper.js';
import { VIRTUAL_EPOCH, VirtualClock } from './helpers/virtual-clock.js';

/** A check with `overrides` laid over the defaults and the `absent` keys left out. */
function check(overrides: Partial<Check>, absent: readonly (keyof Check)[] = []): Check {
  const built: Partial<Check> = {
    id: 'c1',
    name: 'tcp check',
    type: 'tcp',
    tcp: '127.0.0.1:1',
    interval: '10s',
    timeout: '5s',
    successBeforePassing: 0,
    failuresBeforeCritical: 0,
    deregisterCriticalAfter: '150ms',
    instanceId: 'i1',
    status: 'critical',
    note: '',
    statusChangedAt: VIRTUAL_EPOCH,
    ...overrides,
  };
  for (const key of absent) delete built[key];
  return built as Check;
}

function reaper(t: { teardown(fn: () => unknown): void }, startedAt = 0) {
  const clock = new VirtualClock();
  const notices: ReapNotice[] = [];
  const firedAt: number[] = [];
  const created = new CriticalReaper(clock, startedAt, (notice) => {
    notices.push(notice);
    firedAt.push(clock.now());
  });
  t.teardown(() => created.clear());
  return { reaper: created, notices, firedAt, clock };
}

t.test('a check critical for deregisterCriticalAfter produces one notice', async (t) => {
  const { reaper: subject, notices, firedAt, clock } = reaper(t);
  const since = clock.now();
  subject.observe(check({ statusChangedAt: since }));
  await clock.advance(149);
  t.same(notices, [], 'not a millisecond before the deadline');
  await clock.advance(1);
  t.ok(firedAt[0] - since >= 150, `not before the deadline (fired after ${firedAt[0] - since} ms)`);
  t.same(notices, [{ instanceId: 'i1', checkId: 'c1', criticalSince: since, deregisterCriticalAfterMs: 150 }]);
  await clock.advance(1000);
  t.equal(notices.length, 1, 'one notice, not one per interval');
});

t.test('the clock runs from statusChangedAt, so an old critical status is reaped at once', async (t) => {
  const { reaper: subject, notices, clock } = reaper(t);
  subject.observe(check({ statusChangedAt: clock.now() - 1000 }));
  await clock.advance(1);
  t.equal(notices.length, 1);
});

t.test('time before start-up does not count', async (t) => {
  const startedAt = VIRTUAL_EPOCH;
  const { reaper: subject, notices, firedAt, clock } = reaper(t, startedAt);
  subject.observe(check({ statusChangedAt: startedAt - 60_000 }));
  await clock.advance(149);
  t.same(notices, [], 'not reaped at start-up');
  await clock.advance(1);
  // Critical for a minute by its timestamp, but the server only started now.
  t.ok(
    firedAt[0] - startedAt >= 150,
    `reaped deregisterCriticalAfter after start-up (fired after ${firedAt[0] - startedAt} ms)`,
  );
});

t.test('a check that leaves critical, or has no deregisterCriticalAfter, is not reaped', async (t) => {
  const { reaper: subject, notices, clock } = reaper(t);
  subject.observe(check({ id: 'recovers' }));
  subject.observe(check({ id: 'recovers', status: 'passing' }));
  subject.observe(check({ id: 'no-limit' }, ['deregisterCriticalAfter']));
  subject.observe(check({ id: 'warning', status: 'warning' }));
  t.equal(subject.size, 0);
  await clock.advance(200);
  t.same(notices, []);
});

t.test('a note-only update keeps the deadline where it was', async (t) => {
  const { reaper: subject, notices, firedAt, clock } = reaper(t);
  const since = clock.now();
  subject.observe(check({ statusChangedAt: since, deregisterCriticalAfter: '300ms' }));
  await clock.advance(250);
  subject.observe(check({ statusChangedAt: since, deregisterCriticalAfter: '300ms', note: 'still down' }));
  await clock.advance(300);
  t.equal(notices.length, 1);
  // A deadline re-armed by the note would fire 300 ms after it, so at 550 ms.
  const firedAfter = firedAt[0] - since;
  t.ok(firedAfter < 500, `fired 300 ms after the status change, not 300 ms after the note (${firedAfter} ms)`);
});

t.test('forget and clear cancel deadlines', async (t) => {
  const { reaper: subject, notices, clock } = reaper(t);
  subject.observe(check({ id: 'a' }));
  subject.observe(check({ id: 'b' }));
  subject.forget('a');
  t.equal(subject.size, 1);
  subject.clear();
  t.equal(clock.pending, 0, 'no timer left');
  await clock.advance(200);
  t.same(notices, []);
});

import t from 'tap';
import type { Check } from '../src/catalog/types.js';
import { CriticalReaper, type ReapNotice } from '../src/health/reaper.js';
import { sleep, waitUntil } from './helpers/wait.js';

function check(overrides: Partial<Check>): Check {
  return {
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
    statusChangedAt: Date.now(),
    ...overrides,
  };
}

function reaper(t: { teardown(fn: () => unknown): void }, startedAt = 0) {
  const notices: ReapNotice[] = [];
  const created = new CriticalReaper(Date.now, startedAt, (notice) => notices.push(notice));
  t.teardown(() => created.clear());
  return { reaper: created, notices };
}

t.test('a check critical for deregisterCriticalAfter produces one notice', async (t) => {
  const { reaper: subject, notices } = reaper(t);
  const since = Date.now();
  subject.observe(check({ statusChangedAt: since }));
  await sleep(70);
  t.same(notices, [], 'not before the deadline');
  await waitUntil(() => notices.length > 0);
  t.ok(Date.now() - since >= 145);
  t.same(notices, [{ instanceId: 'i1', checkId: 'c1', criticalSince: since, deregisterCriticalAfterMs: 150 }]);
});

t.test('the clock runs from statusChangedAt, so an old critical status is reaped at once', async (t) => {
  const { reaper: subject, notices } = reaper(t);
  subject.observe(check({ statusChangedAt: Date.now() - 1000 }));
  await waitUntil(() => notices.length > 0, 100);
  t.equal(notices.length, 1);
});

t.test('time before start-up does not count', async (t) => {
  const { reaper: subject, notices } = reaper(t, Date.now());
  const startedAt = Date.now();
  subject.observe(check({ statusChangedAt: startedAt - 60_000 }));
  await sleep(70);
  t.same(notices, [], 'critical for a minute by its timestamp, but the server only started now');
  await waitUntil(() => notices.length > 0);
  t.ok(Date.now() - startedAt >= 145, 'reaped deregisterCriticalAfter after start-up');
});

t.test('a check that leaves critical, or has no deregisterCriticalAfter, is not reaped', async (t) => {
  const { reaper: subject, notices } = reaper(t);
  subject.observe(check({ id: 'recovers' }));
  subject.observe(check({ id: 'recovers', status: 'passing' }));
  subject.observe(check({ id: 'no-limit', deregisterCriticalAfter: undefined }));
  subject.observe(check({ id: 'warning', status: 'warning' }));
  t.equal(subject.size, 0);
  await sleep(200);
  t.same(notices, []);
});

t.test('a note-only update keeps the deadline where it was', async (t) => {
  const { reaper: subject, notices } = reaper(t);
  const since = Date.now();
  subject.observe(check({ statusChangedAt: since }));
  await sleep(100);
  subject.observe(check({ statusChangedAt: since, note: 'still down' }));
  await waitUntil(() => notices.length > 0);
  const firedAfter = Date.now() - since;
  t.ok(firedAfter < 240, `fired 150 ms after the status change, not 150 ms after the note (${firedAfter} ms)`);
});

t.test('forget and clear cancel deadlines', async (t) => {
  const { reaper: subject, notices } = reaper(t);
  subject.observe(check({ id: 'a' }));
  subject.observe(check({ id: 'b' }));
  subject.forget('a');
  t.equal(subject.size, 1);
  subject.clear();
  await sleep(200);
  t.same(notices, []);
});

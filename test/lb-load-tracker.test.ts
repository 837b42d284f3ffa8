import t from 'tap';
import { LoadTracker } from '../src/lb/load-tracker.js';

t.test('latency is an EWMA seeded by the first sample', async (t) => {
  const tracker = new LoadTracker(0.3);
  tracker.report('a', { latencyMs: 100 });
  t.equal(tracker.peek('a')?.latencyMs, 100);
  tracker.report('a', { latencyMs: 200 });
  t.equal(tracker.peek('a')?.latencyMs, 130);
  tracker.report('a', { latencyMs: 0 });
  t.ok(Math.abs((tracker.peek('a')?.latencyMs ?? 0) - 91) < 1e-9);
});

t.test('connections are a gauge: the last report wins', async (t) => {
  const tracker = new LoadTracker(0.5);
  tracker.report('a', { connections: 5 });
  tracker.report('a', { connections: 2 });
  t.equal(tracker.peek('a')?.connections, 2);
  t.ok(Number.isNaN(tracker.peek('a')?.latencyMs ?? 0), 'no latency reported yet');
});

t.test('record() returns the live object later reports update', async (t) => {
  const tracker = new LoadTracker(0.5);
  const record = tracker.record('a');
  tracker.report('a', { connections: 7 });
  t.equal(record.connections, 7);
});

t.test('forget drops the instance, zeroes the old record and bumps the generation', async (t) => {
  const tracker = new LoadTracker(0.5);
  const record = tracker.record('a');
  tracker.report('a', { connections: 3, latencyMs: 9 }, 'web');
  t.equal(record.service, 'web');
  const generation = tracker.generation;
  tracker.forget('a');
  t.equal(tracker.peek('a'), undefined);
  t.equal(record.connections, 0);
  t.ok(Number.isNaN(record.latencyMs));
  t.equal(tracker.generation, generation + 1);
  t.equal(tracker.forget('missing'), undefined);
  t.equal(tracker.size, 0);
});

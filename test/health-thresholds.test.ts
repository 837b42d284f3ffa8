import t from 'tap';
import type { HealthStatus } from '../src/catalog/types.js';
import { admitResult, newStreak } from '../src/health/thresholds.js';

/** Feeds results in order and returns the recorded status after each (what the catalog would hold). */
function replay(
  start: HealthStatus,
  results: HealthStatus[],
  successBeforePassing: number,
  failuresBeforeCritical: number,
): HealthStatus[] {
  const streak = newStreak();
  let current = start;
  return results.map((result) => {
    if (admitResult(streak, current, result, successBeforePassing, failuresBeforeCritical)) current = result;
    return current;
  });
}

t.test('with the default thresholds of 0 every result is recorded at once', async (t) => {
  t.same(replay('critical', ['passing', 'critical', 'warning', 'passing'], 0, 0), [
    'passing',
    'critical',
    'warning',
    'passing',
  ]);
});

t.test('failuresBeforeCritical: a passing check turns critical on the Nth failure in a row', async (t) => {
  t.same(replay('passing', ['critical', 'critical', 'critical', 'critical'], 0, 3), [
    'passing',
    'passing',
    'critical',
    'critical',
  ]);
});

t.test('a success in between starts the failure count again', async (t) => {
  t.same(replay('passing', ['critical', 'critical', 'passing', 'critical', 'critical', 'critical'], 0, 3), [
    'passing',
    'passing',
    'passing',
    'passing',
    'passing',
    'critical',
  ]);
});

t.test('successBeforePassing: a critical check turns passing on the Nth success in a row', async (t) => {
  t.same(replay('critical', ['passing', 'passing', 'passing'], 3, 0), ['critical', 'critical', 'passing']);
  t.same(replay('critical', ['passing', 'critical', 'passing', 'passing'], 2, 0), [
    'critical',
    'critical',
    'critical',
    'passing',
  ]);
});

t.test('warning counts as a success, as in Consul', async (t) => {
  t.same(replay('critical', ['warning', 'passing'], 2, 0), ['critical', 'passing']);
  t.same(replay('critical', ['passing', 'warning'], 2, 0), ['critical', 'warning']);
});

t.test('a result with the current status is always recorded, so its note stays fresh', async (t) => {
  const streak = newStreak();
  t.ok(admitResult(streak, 'critical', 'critical', 0, 5), 'critical while critical');
  t.ok(admitResult(streak, 'passing', 'passing', 5, 0), 'passing while passing');
  t.same(streak, { successes: 1, failures: 0 });
});

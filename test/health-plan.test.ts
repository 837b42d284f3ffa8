import t from 'tap';
import type { Check } from '../src/catalog/types.js';
import { planCheck } from '../src/health/plan.js';

const defaults = { intervalMs: 10_000, timeoutMs: 5_000, ttlMs: 30_000, minIntervalMs: 1, minTimeoutMs: 1 };

/** A check with `overrides` laid over the defaults and the `absent` keys left out. */
function check(overrides: Partial<Check>, absent: readonly (keyof Check)[] = []): Check {
  const built: Partial<Check> = {
    id: 'c1',
    name: 'http check',
    type: 'http',
    http: 'http://127.0.0.1:8080/health',
    method: 'GET',
    interval: '2s',
    timeout: '500ms',
    successBeforePassing: 0,
    failuresBeforeCritical: 2,
    instanceId: 'i1',
    status: 'critical',
    note: '',
    statusChangedAt: 0,
    ...overrides,
  };
  for (const key of absent) delete built[key];
  return built as Check;
}

t.test('an http check is compiled with its durations parsed and its request built', async (t) => {
  const plan = planCheck(check({ headers: { 'X-Probe': '1' } }), defaults);
  t.equal(plan.intervalMs, 2000);
  t.equal(plan.timeoutMs, 500);
  t.equal(plan.failuresBeforeCritical, 2);
  t.equal(plan.http?.url.href, 'http://127.0.0.1:8080/health');
  t.equal(plan.http?.label, 'HTTP GET http://127.0.0.1:8080/health');
  t.same(plan.http?.options.headers, {
    'user-agent': 'Konsul Health Check',
    accept: 'text/plain, text/*, */*',
    'x-probe': '1',
  });
  t.equal(plan.tcp, undefined);
});

t.test('a tcp check gets its address and a ttl check its ttl', async (t) => {
  const tcp = planCheck(check({ type: 'tcp', tcp: '[::1]:5432' }, ['http', 'method']), defaults);
  t.same(tcp.tcp, { host: '::1', port: 5432, label: 'TCP connect [::1]:5432' });
  const ttl = planCheck(check({ type: 'ttl', ttl: '45s' }, ['http', 'method', 'interval', 'timeout']), defaults);
  t.equal(ttl.ttlMs, 45_000);
});

t.test(
  'missing durations fall back to the configured defaults, and a timeout never exceeds the interval',
  async (t) => {
    const plan = planCheck(check({}, ['interval', 'timeout']), defaults);
    t.equal(plan.intervalMs, 10_000);
    t.equal(plan.timeoutMs, 5_000);
    t.equal(planCheck(check({ interval: '1s', timeout: '3s' }), defaults).timeoutMs, 1000);
    t.equal(planCheck(check({ type: 'ttl' }, ['ttl']), defaults).ttlMs, 30_000);
  },
);

t.test('the fingerprint changes exactly when how the check runs changes', async (t) => {
  const base = planCheck(check({}), defaults).fingerprint;
  t.equal(
    planCheck(check({ status: 'passing', note: 'x', name: 'renamed' }), defaults).fingerprint,
    base,
    'status, note and name do not matter',
  );
  t.equal(
    planCheck(check({ deregisterCriticalAfter: '1m' }), defaults).fingerprint,
    base,
    'deregisterCriticalAfter is read from events',
  );
  for (const change of [
    { interval: '3s' },
    { timeout: '1s' },
    { http: 'http://127.0.0.1:8081/' },
    { method: 'HEAD' },
    { headers: { a: 'b' } },
    { instanceId: 'i2' },
    { successBeforePassing: 1 },
  ]) {
    t.not(planCheck(check(change), defaults).fingerprint, base, `${Object.keys(change)[0]} matters`);
  }
});

import t from 'tap';
import { Registry } from 'prom-client';
import { HealthMetrics } from '../src/health/metrics.js';

t.test('the five health metrics are registered in the registry given, not the global one', async (t) => {
  const registry = new Registry();
  const metrics = new HealthMetrics(registry, () => 3);
  metrics.result('http', 'passing');
  metrics.result('http', 'passing');
  metrics.result('tcp', 'critical');
  metrics.duration('http', 0.012);
  metrics.statusChange('critical', 'passing');
  metrics.startLag(0.004);
  const text = await registry.metrics();
  t.match(text, /konsul_health_checks_total\{type="http",status="passing"\} 2/);
  t.match(text, /konsul_health_checks_total\{type="tcp",status="critical"\} 1/);
  t.match(text, /konsul_health_checks_total\{type="ttl",status="warning"\} 0/, 'every series exists from the start');
  t.match(text, /konsul_health_check_duration_seconds_count\{type="http"\} 1/);
  t.match(text, /konsul_health_status_changes_total\{from="critical",to="passing"\} 1/);
  t.match(text, /konsul_health_checks_in_flight 3/);
  t.match(text, /konsul_health_check_lag_seconds_bucket\{le="0.005"\} 1/);
});

t.test('a second set on the same registry shares the series and reads the newest in-flight count', async (t) => {
  const registry = new Registry();
  const first = new HealthMetrics(registry, () => 7);
  first.result('ttl', 'passing');
  const second = new HealthMetrics(registry, () => 1);
  second.result('ttl', 'passing');
  const text = await registry.metrics();
  t.match(text, /konsul_health_checks_total\{type="ttl",status="passing"\} 2/);
  t.match(text, /konsul_health_checks_in_flight 1/);
});

import t from 'tap';
import { Counter, Histogram, Registry } from 'prom-client';
import { LabelledCounter, LabelledHistogram } from '../src/metrics/labelled.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];

t.test('the labelled counter prints exactly what a prom-client counter prints', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const counter = new LabelledCounter({
    name: 'requests_total',
    help: 'Requests',
    labelNames: ['method', 'route', 'status'],
    registry: ours,
  });
  const reference = new Counter({
    name: 'requests_total',
    help: 'Requests',
    labelNames: ['method', 'route', 'status'],
    registers: [theirs],
  });
  const calls: [string, string, number][] = [
    ['GET', '/catalog/services', 200],
    ['GET', '/catalog/services', 200],
    ['PUT', '/catalog/register', 400],
    ['GET', '/catalog/services/:name', 200],
    ['GET', 'a "quoted"\\route\n', 503],
  ];
  for (const [method, route, status] of calls) {
    counter.inc(method, route, status);
    reference.inc({ method, route, status: String(status) });
  }
  t.equal(await ours.metrics(), await theirs.metrics());
  t.match(await ours.metrics(), /requests_total\{method="GET",route="\/catalog\/services",status="200"\} 2/);
});

t.test('the labelled histogram prints exactly what a prom-client histogram prints', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const histogram = new LabelledHistogram({
    name: 'duration_seconds',
    help: 'Duration',
    labelNames: ['method', 'route'],
    buckets: BUCKETS,
    registry: ours,
  });
  const reference = new Histogram({
    name: 'duration_seconds',
    help: 'Duration',
    labelNames: ['method', 'route'],
    buckets: BUCKETS,
    registers: [theirs],
  });
  // Values on, between, below and above the bounds, for two label sets.
  const values = [0, 0.0005, 0.001, 0.005, 0.01, 0.5, 1, 3, 1e9];
  for (const [index, value] of values.entries()) {
    const route = index % 2 === 0 ? '/a' : '/b';
    histogram.observe(value, 'GET', route);
    reference.observe({ method: 'GET', route }, value);
  }
  t.equal(await ours.metrics(), await theirs.metrics());
  t.match(await ours.metrics(), /duration_seconds_bucket\{le="\+Inf",method="GET",route="\/a"\} 5/);
});

t.test('one-label metrics, reset, and values that are not finite', async (t) => {
  const registry = new Registry();
  const histogram = new LabelledHistogram({
    name: 'order_seconds',
    help: 'Ordering',
    labelNames: ['strategy'],
    buckets: BUCKETS,
    registry,
  });
  const counter = new LabelledCounter({ name: 'answers_total', help: 'Answers', labelNames: ['strategy'], registry });
  histogram.observe(0.002, 'maglev');
  histogram.observe(Number.NaN, 'maglev');
  counter.inc('maglev');
  const text = await registry.metrics();
  t.match(text, /order_seconds_count\{strategy="maglev"\} 1/, 'NaN is not counted');
  t.match(text, /order_seconds_bucket\{le="0\.01",strategy="maglev"\} 1/);
  t.match(text, /answers_total\{strategy="maglev"\} 1/);
  registry.resetMetrics();
  t.notMatch(await registry.metrics(), /strategy="maglev"/);
  t.throws(() => new LabelledCounter({ name: 'x', help: 'x', labelNames: [], registry }), /one to three labels/);
});

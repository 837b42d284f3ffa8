import t from 'tap';
import { Registry } from 'prom-client';
import { DnsMetrics } from '../src/dns/metrics.js';

t.test('answers are counted by qtype name and rcode name, unknown qtypes as other', async (t) => {
  const registry = new Registry();
  const metrics = new DnsMetrics(registry);
  metrics.answered(1, 0, 0.0001);
  metrics.answered(1, 0, 0.0001);
  metrics.answered(65000, 3, 0.0001);
  metrics.answered(undefined, 1, 0.0001);
  metrics.answered(33, 16, 0.0001);
  const text = await registry.metrics();
  t.match(text, /konsul_dns_queries_total\{qtype="A",rcode="NOERROR"\} 2/);
  t.match(text, /konsul_dns_queries_total\{qtype="other",rcode="NXDOMAIN"\} 1/);
  t.match(text, /konsul_dns_queries_total\{qtype="none",rcode="FORMERR"\} 1/);
  t.match(text, /konsul_dns_queries_total\{qtype="SRV",rcode="BADVERS"\} 1/);
  t.match(text, /konsul_dns_query_duration_seconds_count 5/);
});

t.test('malformed and truncated messages have their own counters', async (t) => {
  const registry = new Registry();
  const metrics = new DnsMetrics(registry);
  metrics.malformed('counts');
  metrics.malformed('counts');
  metrics.truncated();
  const text = await registry.metrics();
  t.match(text, /konsul_dns_malformed_total\{reason="counts"\} 2/);
  t.match(text, /konsul_dns_truncated_total 1/);
});

t.test('a second DNS metrics set on the same registry reuses the series instead of throwing', async (t) => {
  const registry = new Registry();
  new DnsMetrics(registry).truncated();
  new DnsMetrics(registry).truncated();
  t.match(await registry.metrics(), /konsul_dns_truncated_total 2/);
});

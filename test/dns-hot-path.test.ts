import t from 'tap';
import { Histogram, Registry } from 'prom-client';
import { NameRouter } from '../src/dns/names.js';
import { layOut, ResponseSections } from '../src/dns/truncate.js';
import { UnlabelledHistogram } from '../src/metrics/unlabelled-histogram.js';
import { buildQuery } from './helpers/dns-client.js';

const QTYPE_A = 1;
const nameEnd = (query: Buffer) => query.length - 4;

t.test('the router answers a repeated name from its bytes and tells apart names of the same length', async (t) => {
  const router = new NameRouter('konsul');
  const names = [
    'api.service.konsul',
    'web.service.konsul',
    'api.service.konsul',
    'API.service.konsul',
    'v2.web.service.konsul',
  ];
  const routes = names.map((name) => {
    const query = buildQuery(name, QTYPE_A);
    return router.route(query, nameEnd(query));
  });
  t.match(routes, [
    { kind: 'service', service: 'api', tag: undefined },
    { kind: 'service', service: 'web', tag: undefined },
    { kind: 'service', service: 'api', tag: undefined },
    { kind: 'service', service: 'api', tag: undefined },
    { kind: 'service', service: 'web', tag: 'v2' },
  ]);
  // The same name again, after a different one of the same length in a reused buffer.
  const reused = buildQuery('api.service.konsul', QTYPE_A);
  t.match(router.route(reused, nameEnd(reused)), { service: 'api' });
  reused.write('w', 13, 'latin1');
  reused.write('e', 14, 'latin1');
  reused.write('b', 15, 'latin1');
  t.match(router.route(reused, nameEnd(reused)), { service: 'web' });
});

t.test('laying out into a reused result gives each answer its own buffer', async (t) => {
  const query = buildQuery('api.service.konsul', QTYPE_A);
  const questionEnd = query.length;
  const sections = new ResponseSections();
  const record = (last: number) => Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 10, 0, 0, last]);
  // One record long enough to take the native copy path, to cover both.
  const long = Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 0, 0, 70, 69]), Buffer.alloc(69, 0x61)]);
  const into = { message: Buffer.alloc(0), truncated: false };
  sections.answers.push(record(1), long);
  const first = layOut(query, questionEnd, 7, 0x8400, sections, null, 512, into).message;
  const firstBytes = Buffer.from(first);
  sections.clear();
  sections.answers.push(record(2));
  const second = layOut(query, questionEnd, 8, 0x8400, sections, null, 512, into);
  t.equal(second, into);
  t.not(second.message, first);
  t.same(first, firstBytes, 'the first answer is untouched by the second');
  t.same(first.subarray(questionEnd), Buffer.concat([record(1), long]));
  t.same(second.message.subarray(questionEnd), record(2));
  t.same(second.message.subarray(12, questionEnd), query.subarray(12));
  t.equal(second.message.readUInt16BE(0), 8);
  t.equal(second.message.readUInt16BE(6), 1);
});

t.test('the unlabelled histogram is scraped exactly as prom-client writes its own', async (t) => {
  const buckets = [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];
  const name = 'konsul_dns_query_duration_seconds';
  const help = 'Time from receiving a DNS message to handing its answer to the socket';
  const ours = new Registry();
  const theirs = new Registry();
  const histogram = new UnlabelledHistogram(name, help, buckets, ours);
  const reference = new Histogram({ name, help, buckets, registers: [theirs] });
  t.equal(await ours.metrics(), await theirs.metrics(), 'before any observation');
  for (const seconds of [0.00001, 0.000025, 0.00003, 0.0007, 0.0007, 0.2, Number.NaN]) {
    histogram.observe(seconds);
    if (Number.isFinite(seconds)) reference.observe(seconds);
  }
  t.equal(await ours.metrics(), await theirs.metrics());
  ours.resetMetrics();
  theirs.resetMetrics();
  t.equal(await ours.metrics(), await theirs.metrics(), 'after a reset');
  histogram.observe(0.003);
  reference.observe(0.003);
  t.equal(await ours.metrics(), await theirs.metrics(), 'observed again after a reset');
});

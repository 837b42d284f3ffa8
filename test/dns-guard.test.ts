import t from 'tap';
import { guardQuery, isRejection, type Query } from '../src/dns/guard.js';
import { buildQuery, TYPE } from './helpers/dns-client.js';

function accepted(t: { pass(message: string): void }, message: Buffer): Query {
  const verdict = guardQuery(message);
  if (isRejection(verdict)) throw new Error(`rejected: ${JSON.stringify(verdict)}`);
  t.pass('accepted');
  return verdict;
}

t.test('a plain query is accepted with its ID, question bounds, type and class', async (t) => {
  const query = accepted(t, buildQuery('web.service.konsul', TYPE.SRV, { id: 99 }));
  t.equal(query.id, 99);
  t.equal(query.nameEnd, 12 + 20);
  t.equal(query.questionEnd, 12 + 20 + 4);
  t.equal(query.qtype, TYPE.SRV);
  t.equal(query.qclass, 1);
  t.equal(query.edns, null);
});

t.test('a query with one OPT record is accepted with its EDNS parameters', async (t) => {
  const query = accepted(t, buildQuery('web.service.konsul', TYPE.A, { udpSize: 4096, dnssecOk: true }));
  t.same(query.edns, { udpSize: 4096, version: 0, dnssecOk: true, clientSubnet: undefined });
});

t.test('fewer than 12 bytes, or a response, are dropped without a reply', async (t) => {
  t.same(guardQuery(Buffer.alloc(11)), { action: 'drop', reason: 'short' });
  const response = buildQuery('web.service.konsul', TYPE.A);
  response[2] |= 0x80;
  t.same(guardQuery(response), { action: 'drop', reason: 'response' });
});

t.test('an opcode other than QUERY is NOTIMP and not counted as malformed', async (t) => {
  const update = buildQuery('konsul', TYPE.SOA);
  update.writeUInt16BE(5 << 11, 2);
  t.same(guardQuery(update), { action: 'notimp', reason: null });
});

t.test('section counts other than one question and at most one additional are FORMERR', async (t) => {
  for (const [offset, value] of [
    [4, 0],
    [4, 2],
    [6, 1],
    [8, 1],
    [10, 2],
    [4, 65535],
  ] as const) {
    const message = buildQuery('web.service.konsul', TYPE.A);
    message.writeUInt16BE(value, offset);
    t.same(guardQuery(message), { action: 'formerr', reason: 'counts' }, `count at ${offset} = ${value}`);
  }
});

t.test('a 17-byte packet claiming 65535 records in every section is rejected without walking the counts', async (t) => {
  const hostile = Buffer.from([0, 1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 3, 0x61, 0x62, 0x63, 0]);
  const started = process.hrtime.bigint();
  for (let i = 0; i < 10_000; i++) guardQuery(hostile);
  const perCall = Number(process.hrtime.bigint() - started) / 10_000;
  // A parser that believed the counts spends about 2 s on this packet; the bound leaves room
  // for a loaded machine and still fails such a parser by four orders of magnitude.
  t.ok(perCall < 200_000, `${Math.round(perCall)} ns per call`);
  t.same(guardQuery(hostile), { action: 'formerr', reason: 'counts' });
});

t.test('compression pointers, over-long labels and names running past the packet are FORMERR', async (t) => {
  const pointer = Buffer.concat([buildQuery('a', TYPE.A).subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
  t.same(guardQuery(pointer), { action: 'formerr', reason: 'name' });
  const extended = Buffer.concat([buildQuery('a', TYPE.A).subarray(0, 12), Buffer.from([0x41, 0, 0, 1, 0, 1])]);
  t.same(guardQuery(extended), { action: 'formerr', reason: 'name' });
  const unterminated = buildQuery('web.service.konsul', TYPE.A).subarray(0, 20);
  t.same(guardQuery(unterminated), { action: 'formerr', reason: 'name' });
  const long = buildQuery(Array.from({ length: 5 }, () => 'x'.repeat(63)).join('.'), TYPE.A);
  t.same(guardQuery(long), { action: 'formerr', reason: 'name' }, 'a name over 255 octets');
  const longest = buildQuery([...Array.from({ length: 3 }, () => 'x'.repeat(63)), 'y'.repeat(61)].join('.'), TYPE.A);
  t.notOk(isRejection(guardQuery(longest)), 'a name of exactly 255 octets is fine');
});

t.test('a question cut short, type 0 or OPT as the question type is FORMERR', async (t) => {
  t.same(guardQuery(buildQuery('konsul', TYPE.A).subarray(0, 22)), { action: 'formerr', reason: 'question' });
  t.same(guardQuery(buildQuery('konsul', 0)), { action: 'formerr', reason: 'question' });
  t.same(guardQuery(buildQuery('konsul', TYPE.OPT)), { action: 'formerr', reason: 'question' });
});

t.test('bytes after the question, or an additional record that is not a well-formed OPT, are FORMERR', async (t) => {
  t.same(guardQuery(Buffer.concat([buildQuery('konsul', TYPE.A), Buffer.from([0])])), {
    action: 'formerr',
    reason: 'trailing',
  });
  const withOpt = buildQuery('konsul', TYPE.A, { udpSize: 1232 });
  t.same(
    guardQuery(Buffer.concat([withOpt, Buffer.from([0])])),
    { action: 'formerr', reason: 'opt' },
    'bytes after the OPT',
  );
  const notOpt = Buffer.from(withOpt);
  notOpt.writeUInt16BE(TYPE.A, notOpt.length - 10);
  t.same(guardQuery(notOpt), { action: 'formerr', reason: 'opt' });
  t.same(guardQuery(withOpt.subarray(0, withOpt.length - 1)), { action: 'formerr', reason: 'opt' }, 'an OPT cut short');
  const arcountOnly = buildQuery('konsul', TYPE.A);
  arcountOnly.writeUInt16BE(1, 10);
  t.same(
    guardQuery(arcountOnly),
    { action: 'formerr', reason: 'opt' },
    'an announced additional record that is missing',
  );
});

t.test('every prefix of a valid query is rejected and never throws', async (t) => {
  const query = buildQuery('_web._tcp.service.konsul', TYPE.SRV, {
    udpSize: 1232,
    clientSubnet: { address: '10.1.0.0', prefix: 16 },
  });
  t.notOk(isRejection(guardQuery(query)));
  for (let length = 0; length < query.length; length++)
    t.ok(isRejection(guardQuery(query.subarray(0, length))), `${length} bytes`);
});

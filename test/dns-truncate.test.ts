import t from 'tap';
import { headerOnly, layOut, ResponseSections } from '../src/dns/truncate.js';
import { buildQuery, decodeMessage, TYPE } from './helpers/dns-client.js';

const query = buildQuery('web.service.konsul', TYPE.A, { id: 7 });
const questionEnd = query.length;
/** An A record owned by the question name, the last octet marking its position. */
const a = (n: number): Buffer => Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 10, 0, 0, n]);
const additional = (n: number): Buffer => Buffer.from([1, 0x78, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 10, 0, 1, n]);

function sections(answers: Buffer[], extra: Buffer[] = []): ResponseSections {
  const out = new ResponseSections();
  out.answers.push(...answers);
  out.additional.push(...extra);
  return out;
}

t.test('everything that fits is laid out with counts, the ID, the flags and the question copied', async (t) => {
  const { message, truncated } = layOut(
    query,
    questionEnd,
    7,
    0x8400,
    sections([a(1), a(2)], [additional(1)]),
    null,
    512,
  );
  t.notOk(truncated);
  const decoded = decodeMessage(message);
  t.equal(decoded.id, 7);
  t.ok(decoded.aa && decoded.qr && !decoded.tc);
  t.same(
    decoded.answers.map((record) => record.address),
    ['10.0.0.1', '10.0.0.2'],
  );
  t.equal(decoded.additional.length, 1);
});

t.test('answers that do not fit are dropped whole from the end and TC is set', async (t) => {
  const answers = Array.from({ length: 40 }, (_, i) => a(i + 1));
  const { message, truncated } = layOut(query, questionEnd, 7, 0x8400, sections(answers, [additional(1)]), null, 512);
  t.ok(truncated);
  const decoded = decodeMessage(message);
  t.ok(decoded.tc);
  const fit = Math.floor((512 - questionEnd) / 16);
  t.equal(decoded.answers.length, fit);
  t.same(
    decoded.answers.map((record) => record.address),
    answers.slice(0, fit).map((_, i) => `10.0.0.${i + 1}`),
    'kept in order',
  );
  t.equal(decoded.additional.length, 0, 'no additional records once answers are cut');
  t.ok(message.length <= 512);
});

t.test('additional records that do not fit are dropped without TC (RFC 2181 §9)', async (t) => {
  const answers = Array.from({ length: 20 }, (_, i) => a(i + 1));
  const extras = Array.from({ length: 20 }, (_, i) => additional(i + 1));
  const { message, truncated } = layOut(query, questionEnd, 7, 0x8400, sections(answers, extras), null, 512);
  t.notOk(truncated);
  const decoded = decodeMessage(message);
  t.equal(decoded.answers.length, 20);
  t.ok(
    decoded.additional.length > 0 && decoded.additional.length < 20,
    `${decoded.additional.length} additional records kept`,
  );
});

t.test('the OPT record is kept even in a truncated answer and counted in the additional section', async (t) => {
  const opt = Buffer.from([0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
  const answers = Array.from({ length: 100 }, (_, i) => a(i + 1));
  const { message, truncated } = layOut(query, questionEnd, 7, 0x8400, sections(answers), opt, 1232);
  t.ok(truncated);
  t.ok(message.length <= 1232);
  const decoded = decodeMessage(message);
  t.equal(decoded.opt?.udpSize, 1232);
  t.equal(decoded.answers.length, Math.floor((1232 - questionEnd - 11) / 16));
});

t.test('a header-only reply has zero counts', async (t) => {
  const message = headerOnly(0xabcd, 0x8001);
  t.same([...message], [0xab, 0xcd, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
});

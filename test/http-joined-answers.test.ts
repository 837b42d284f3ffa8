import t from 'tap';
import { JoinedAnswers } from '../src/http/joined-answers.js';
import { json, startTestKonsul } from './helpers/konsul.js';

/** An item's bytes: long enough that a few of them make a body worth keeping. */
function item(label: string, bytes = 1500): Buffer {
  return Buffer.from(JSON.stringify({ id: label, pad: 'x'.repeat(bytes) }));
}

function joined(items: readonly Buffer[]): Buffer {
  return Buffer.from(`[${items.map((part) => part.toString()).join(',')}]`);
}

/** What keep() charges an entry: its body, the items it holds, their references, its own objects. */
function charge(items: readonly Buffer[]): number {
  return 2 * joined(items).length + items.length * 8 + 96;
}

t.test('the same items in the same order find the body kept for them; anything else does not', async (t) => {
  const answers = new JoinedAnswers(1024 * 1024);
  const [a, b, c] = [item('a'), item('b'), item('c')];
  const body = joined([a, b, c]);
  t.equal(answers.find([a, b, c]), undefined, 'nothing kept yet');
  answers.keep([a, b, c], body);
  t.equal(answers.find([a, b, c]), body, 'the very buffer kept');
  t.equal(answers.find([a, c, b]), undefined, 'another order');
  t.equal(answers.find([a, b]), undefined, 'fewer items');
  t.equal(answers.find([a, b, c, c]), undefined, 'more items');
  t.equal(answers.find([a, b, Buffer.from(c)]), undefined, 'equal bytes in another buffer: a replaced record');
  t.match(answers.stats(), { entries: 1, hits: 1, misses: 5, evictions: 0 });
});

t.test('a body Node cuts from its shared pool is not kept, nor one over the whole bound', async (t) => {
  const small = [item('s', 10)];
  const answers = new JoinedAnswers(1024 * 1024);
  t.ok(joined(small).length < JoinedAnswers.minBodyBytes);
  answers.keep(small, joined(small));
  t.equal(answers.find(small), undefined);
  const large = [item('l1'), item('l2'), item('l3')];
  const tight = new JoinedAnswers(charge(large) - 1);
  tight.keep(large, joined(large));
  t.equal(tight.find(large), undefined);
  t.match(tight.stats(), { bytes: 0, entries: 0 });
  const off = new JoinedAnswers(0);
  off.keep(large, joined(large));
  t.equal(off.find(large), undefined, 'http.answerCacheBytes 0 keeps nothing');
});

t.test('the bytes kept stay within the bound, least recently used out first', async (t) => {
  const lists = Array.from({ length: 10 }, (_, n) => [item(`${n}-1`), item(`${n}-2`), item(`${n}-3`)]);
  const each = charge(lists[0]);
  const answers = new JoinedAnswers(3 * each);
  for (let n = 0; n < 3; n++) answers.keep(lists[n], joined(lists[n]));
  t.match(answers.stats(), { entries: 3, bytes: 3 * each });
  // The first one used again: the second is now the oldest.
  t.ok(answers.find(lists[0]));
  answers.keep(lists[3], joined(lists[3]));
  t.ok(answers.find(lists[0]), 'recently used: kept');
  t.equal(answers.find(lists[1]), undefined, 'least recently used: dropped');
  t.ok(answers.find(lists[2]));
  t.ok(answers.find(lists[3]));
  for (let n = 4; n < 10; n++) {
    answers.keep(lists[n], joined(lists[n]));
    t.ok(answers.stats().bytes <= 3 * each, `after ${n + 1} answers`);
  }
  t.match(answers.stats(), { entries: 3, evictions: 7 });
});

t.test('answers that share a first item are kept side by side, a few of them', async (t) => {
  const first = item('first');
  const answers = new JoinedAnswers(1024 * 1024);
  const lists = Array.from({ length: 6 }, (_, n) => [first, item(`tail-${n}`), item(`more-${n}`)]);
  for (const list of lists) answers.keep(list, joined(list));
  t.equal(answers.stats().entries, 4, 'four per first item');
  t.equal(answers.find(lists[0]), undefined);
  t.equal(answers.find(lists[1]), undefined);
  for (const list of lists.slice(2)) t.ok(answers.find(list));
});

type App = Awaited<ReturnType<typeof startTestKonsul>>['app'];

/** A service whose answer is well past Node's pooled buffers: 12 instances with a long meta value each. */
async function registerLong(app: App, name: string, note = 'a'): Promise<void> {
  for (let i = 0; i < 12; i++) {
    const response = await app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: {
        id: `${name}-${i}`,
        name,
        address: `10.0.0.${i + 1}`,
        port: 80,
        meta: { note: `${note}${'n'.repeat(400)}` },
        checks: [{ id: `${name}-${i}-ttl`, type: 'ttl', ttl: '1h', status: 'passing' }],
      },
    });
    if (response.statusCode !== 200) throw new Error(`register ${name}-${i}: ${response.statusCode} ${response.body}`);
  }
}

async function lookups(app: App): Promise<Record<string, number>> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const figure = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
  return {
    hit: figure(/^konsul_http_answer_cache_lookups_total\{result="hit"\} (\d+)$/m),
    miss: figure(/^konsul_http_answer_cache_lookups_total\{result="miss"\} (\d+)$/m),
    bytes: figure(/^konsul_http_answer_cache_bytes (\d+)$/m),
    entries: figure(/^konsul_http_answer_cache_entries (\d+)$/m),
    evictions: figure(/^konsul_http_answer_cache_evictions_total (\d+)$/m),
  };
}

t.test('a long answer asked again is the kept body; after any change it is the new one', async (t) => {
  const { app } = await startTestKonsul(t);
  await registerLong(app, 'web');
  const url = '/v1/health/service/web';
  const first = await app.inject({ method: 'GET', url });
  t.ok(first.rawPayload.length >= JoinedAnswers.minBodyBytes, `${first.rawPayload.length} bytes`);
  const again = await app.inject({ method: 'GET', url });
  t.equal(again.body, first.body);
  t.match(await lookups(app), { hit: 1, miss: 1, entries: 1 });

  // A check turns critical: the entry of that instance is new, so is the answer.
  t.equal((await app.inject({ method: 'PUT', url: '/health/check/web-3-ttl/fail' })).statusCode, 200);
  const failed = json<{ Service: { ID: string }; Checks: { Status: string }[] }[]>(
    await app.inject({ method: 'GET', url }),
  );
  t.same(
    failed
      .filter((entry) => entry.Checks.some((check) => check.Status === 'critical'))
      .map((entry) => entry.Service.ID),
    ['web-3'],
  );
  // ?passing lists the others: an answer of its own, never the unfiltered one.
  const passing = json<{ Service: { ID: string } }[]>(await app.inject({ method: 'GET', url: `${url}?passing=true` }));
  t.equal(passing.length, 11);
  t.notOk(passing.some((entry) => entry.Service.ID === 'web-3'));

  // Re-registered with new meta: the native query answers the new value.
  await registerLong(app, 'web', 'b');
  const native = json<{ meta: { note: string } }[]>(await app.inject({ method: 'GET', url: '/catalog/services/web' }));
  t.equal(native.length, 12);
  t.ok(native.every((instance) => instance.meta.note.startsWith('bn')));
  const v1 = json<{ Service: { Meta: { note: string } } }[]>(await app.inject({ method: 'GET', url }));
  t.ok(v1.every((entry) => entry.Service.Meta.note.startsWith('bn')));
});

t.test('the kept bodies stay within http.answerCacheBytes', async (t) => {
  const { app } = await startTestKonsul(t, { http: { answerCacheBytes: 40_000 } });
  for (const name of ['a', 'b', 'c', 'd', 'e']) await registerLong(app, name);
  let longest = 0;
  for (const name of ['a', 'b', 'c', 'd', 'e']) {
    const answer = await app.inject({ method: 'GET', url: `/v1/health/service/${name}` });
    longest = Math.max(longest, answer.rawPayload.length);
    const figures = await lookups(app);
    t.ok(figures.bytes <= 40_000, `${figures.bytes} bytes after ${name}`);
  }
  t.ok(2 * longest < 40_000, 'one answer fits');
  const figures = await lookups(app);
  t.ok(figures.entries >= 1 && figures.entries < 5, `${figures.entries} kept`);
  t.ok(figures.evictions >= 1);

  const off = await startTestKonsul(t, { http: { answerCacheBytes: 0 } });
  await registerLong(off.app, 'a');
  const url = '/v1/health/service/a';
  t.equal((await off.app.inject({ method: 'GET', url })).body, (await off.app.inject({ method: 'GET', url })).body);
  t.match(await lookups(off.app), { hit: 0, bytes: 0, entries: 0 });
});

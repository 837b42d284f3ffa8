import t from 'tap';
import { join } from 'node:path';
import { AnswerCache, KIND, answerKind } from '../src/dns/answer-cache.js';
import { openCatalog, tempDir } from './helpers/catalog.js';

async function setup(t: Parameters<typeof tempDir>[0]) {
  const catalog = await openCatalog(t, join(tempDir(t), 'konsul.db'));
  const register = (id: string, address: string, tags: string[] = []) =>
    catalog.register({
      id,
      name: 'web',
      address,
      port: 80,
      tags,
      checks: [{ type: 'ttl', ttl: '30s', status: 'passing' }],
    });
  return { catalog, register, cache: new AnswerCache(catalog, { domain: 'konsul', ttl: 5, capacity: 2 }) };
}

t.test('answers are reused until the service index moves', async (t) => {
  const { cache, register } = await setup(t);
  await register('a', '10.0.0.1');
  const first = cache.lookup('web', undefined, 'web');
  t.ok(first);
  t.equal(cache.lookup('web', undefined, 'web'), first, 'same index, same object');
  const set = first!.set(KIND.A);
  t.equal(first!.set(KIND.A), set, 'each kind is built once');
  await register('b', '10.0.0.2');
  const second = cache.lookup('web', undefined, 'web');
  t.not(second, first);
  t.equal(second!.set(KIND.A).candidates.instances.length, 2);
  t.not(second!.set(KIND.A).candidates.key, set.candidates.key, 'the manager sees a new key');
});

t.test('a note update replaces instance objects without an index change and keeps the records', async (t) => {
  const { cache, register, catalog } = await setup(t);
  await register('a', '10.0.0.1');
  const before = cache.lookup('web', undefined, 'web')!;
  const record = before.set(KIND.A).records.get('a');
  await catalog.updateCheck('service:a', 'passing', 'still fine');
  const after = cache.lookup('web', undefined, 'web')!;
  t.equal(after, before);
  t.equal(after.set(KIND.A).records.get('a'), record, 'records are keyed by instance id');
});

t.test('each kind selects its own instances and records', async (t) => {
  const { cache, register } = await setup(t);
  await register('v4', '10.0.0.1');
  await register('v6', 'fd00::1');
  await register('host', 'db.example.com');
  const answers = cache.lookup('web', undefined, 'web')!;
  const ids = (kind: (typeof KIND)[keyof typeof KIND]) =>
    answers.set(kind).candidates.instances.map((instance) => instance.id);
  t.same(ids(KIND.A), ['host', 'v4']);
  t.same(ids(KIND.AAAA), ['host', 'v6']);
  t.same(ids(KIND.ANY), ['host', 'v4', 'v6']);
  t.same(ids(KIND.SRV), ['host', 'v4', 'v6']);
  t.same(ids(KIND.CNAME), ['host']);
  t.same([...answers.set(KIND.A).aliases], ['host']);
  const srv = answers.set(KIND.SRV);
  t.same([...srv.additionals!.keys()].sort(), ['v4', 'v6'], 'hostname targets have no additional record');
  t.equal(srv.aliases.size, 0);
  const a = answers.set(KIND.A).records.get('v4')!;
  t.same(
    [...a],
    [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1],
    'owner = pointer to the question, TTL from config',
  );
});

t.test('a tag narrows the instances without case; no match or no service is undefined', async (t) => {
  const { cache, register } = await setup(t);
  await register('a', '10.0.0.1', ['Canary']);
  await register('b', '10.0.0.2');
  t.same(
    cache.lookup('web', 'canary', 'web\u0000canary')!.instances.map((instance) => instance.id),
    ['a'],
  );
  t.equal(cache.lookup('web', 'nope', 'web\u0000nope'), undefined);
  t.equal(cache.lookup('db', undefined, 'db'), undefined);
});

t.test('the cache holds at most its capacity of (service, tag) pairs', async (t) => {
  const { cache, register } = await setup(t);
  await register('a', '10.0.0.1', ['x', 'y', 'z']);
  for (const tag of ['x', 'y', 'z']) cache.lookup('web', tag, `web\u0000${tag}`);
  t.equal(cache.size, 2);
});

t.test('a deregistered service drops out of the cache', async (t) => {
  const { cache, register, catalog } = await setup(t);
  await register('a', '10.0.0.1');
  t.ok(cache.lookup('web', undefined, 'web'));
  await catalog.deregister('a');
  t.equal(cache.lookup('web', undefined, 'web'), undefined);
  t.equal(cache.size, 0);
});

t.test('qtypes map to kinds; other types hold no service records', async (t) => {
  t.equal(answerKind(1), KIND.A);
  t.equal(answerKind(28), KIND.AAAA);
  t.equal(answerKind(33), KIND.SRV);
  t.equal(answerKind(255), KIND.ANY);
  t.equal(answerKind(5), KIND.CNAME);
  t.equal(answerKind(16), undefined);
});

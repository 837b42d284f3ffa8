import t from 'tap';
import { join } from 'node:path';
import { KonsulError } from '../src/errors.js';
import type { CatalogEvent } from '../src/catalog/catalog.js';
import { openCatalog, tempDir } from './helpers/catalog.js';

const web = (n: number, extra: Record<string, unknown> = {}) => ({
  name: 'web',
  address: `10.0.0.${n}`,
  port: 8080,
  ...extra,
});

t.test('a registration gets a default id, an index, and defaults for what it leaves out', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
  const result = await catalog.register({ name: 'Web', address: '10.0.0.1', port: 8080 });
  t.same(result.id, 'web-10.0.0.1-8080');
  t.equal(result.index, 2, 'the empty catalog is at 1, so the first write is 2');
  const instance = catalog.instance(result.id)!;
  t.match(instance, {
    name: 'web',
    weight: 1,
    tags: [],
    meta: {},
    region: null,
    zone: null,
    status: 'passing',
    createIndex: 2,
    modifyIndex: 2,
  });
  t.equal(catalog.index, 2);
});

t.test('registering the same id again replaces the instance and keeps its create index', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
  await catalog.register(web(1, { id: 'a', tags: ['v1'] }));
  const second = await catalog.register(web(2, { id: 'a', tags: ['v2'], weight: 5 }));
  const instance = catalog.instance('a')!;
  t.equal(second.index, 3);
  t.same(instance.tags, ['v2']);
  t.equal(instance.address, '10.0.0.2');
  t.equal(instance.weight, 5);
  t.equal(instance.createIndex, 2);
  t.equal(instance.modifyIndex, 3);
  t.equal(catalog.service('web')!.instances.length, 1);
});

t.test('moving an instance to another service removes it from the old one and bumps both indexes', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
  await catalog.register(web(1, { id: 'a' }));
  await catalog.register({ id: 'a', name: 'api', address: '10.0.0.1', port: 80 });
  t.equal(catalog.service('web')!.instances.length, 0);
  t.equal(catalog.service('web')!.index, 3);
  t.equal(catalog.service('api')!.instances[0].id, 'a');
  t.same(
    catalog.summaries().map((s) => s.name),
    ['api'],
  );
});

t.test('deregistering removes the instance, bumps the index and an unknown id is instance_not_found', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
  await catalog.register(web(1, { id: 'a' }));
  const removed = await catalog.deregister('a');
  t.same(removed, { id: 'a', index: 3 });
  t.equal(catalog.instance('a'), undefined);
  t.equal(catalog.serviceIndex('web'), 3);
  const error = await catalog.deregister('a').catch((e: unknown) => e);
  t.ok(error instanceof KonsulError);
  t.equal((error as KonsulError).code, 'instance_not_found');
  t.equal((error as KonsulError).statusCode, 404);
  t.equal(catalog.index, 3, 'a failed write takes no index');
});

t.test('writes queued in the same turn commit together, each with its own index, in order', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
  const results = await Promise.all([1, 2, 3, 4, 5].map((n) => catalog.register(web(n))));
  t.same(
    results.map((r) => r.index),
    [2, 3, 4, 5, 6],
  );
  const mixed = await Promise.allSettled([
    catalog.register(web(9, { id: 'x' })),
    catalog.deregister('x'),
    catalog.deregister('missing'),
    catalog.register(web(9, { id: 'x' })),
  ]);
  t.same(
    mixed.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
  );
  t.same(
    mixed
      .filter((r) => r.status === 'fulfilled')
      .map((r) => (r as PromiseFulfilledResult<{ index: number }>).value.index),
    [7, 8, 9],
  );
  t.equal(catalog.instance('x')!.createIndex, 9, 'the second registration after removal is a new instance');
});

t.test('every acknowledged write is there after the catalog is reopened from its file', async (t) => {
  const file = join(tempDir(t), 'k.db');
  const first = await openCatalog(t, file);
  await first.register(
    web(1, { id: 'a', tags: ['x', 'y'], meta: { version: '1.2' }, weight: 7, region: 'eu-west', zone: 'eu-west-1a' }),
  );
  await first.register(web(2, { id: 'b', checks: [{ type: 'ttl', ttl: '30s' }] }));
  await first.register(web(3, { id: 'c' }));
  await first.deregister('c');
  await first.updateCheck('service:b', 'passing', 'ok');
  await first.close();
  const second = await openCatalog(t, file);
  t.equal(second.index, 6);
  t.match(second.instance('a'), {
    tags: ['x', 'y'],
    meta: { version: '1.2' },
    weight: 7,
    region: 'eu-west',
    zone: 'eu-west-1a',
    createIndex: 2,
  });
  t.match(second.instance('b')!.checks[0], { id: 'service:b', type: 'ttl', ttl: '30s', status: 'passing', note: 'ok' });
  t.equal(second.instance('b')!.modifyIndex, 6, "a status change moves the instance's modify index, durably");
  t.equal(second.instance('c'), undefined);
  t.equal(second.serviceIndex('web'), 6, 'the service index survives, removals included');
  const next = await second.register(web(4));
  t.equal(next.index, 7, 'the index keeps growing after a restart');
});

t.test('check ids default to service:<id> for one check and service:<id>:<n> for several', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
  await catalog.register(web(1, { id: 'one', checks: [{ type: 'ttl', ttl: '10s' }] }));
  await catalog.register(
    web(2, {
      id: 'two',
      checks: [
        { type: 'ttl', ttl: '10s' },
        { type: 'tcp', tcp: '127.0.0.1:1', interval: '5s' },
      ],
    }),
  );
  t.same(
    catalog.instance('one')!.checks.map((c) => c.id),
    ['service:one'],
  );
  t.same(
    catalog.instance('two')!.checks.map((c) => c.id),
    ['service:two:1', 'service:two:2'],
  );
  t.equal(catalog.instance('two')!.checks[1].timeout, '5s', 'the timeout defaults to at most the interval');
  t.equal(catalog.instance('one')!.status, 'critical', 'a new check starts critical');
});

t.test('a check keeps its status when the instance is registered again, unless a status is given', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
  await catalog.register(web(1, { id: 'a', checks: [{ type: 'ttl', ttl: '10s' }] }));
  await catalog.updateCheck('service:a', 'passing', 'fine');
  await catalog.register(web(1, { id: 'a', tags: ['new'], checks: [{ type: 'ttl', ttl: '10s' }] }));
  t.equal(catalog.instance('a')!.status, 'passing');
  await catalog.register(web(1, { id: 'a', checks: [{ type: 'ttl', ttl: '10s', status: 'warning' }] }));
  t.equal(catalog.instance('a')!.status, 'warning');
});

t.test('a check id that belongs to another instance is refused', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
  await catalog.register(web(1, { id: 'a', checks: [{ id: 'shared', type: 'ttl', ttl: '10s' }] }));
  const error = (await catalog
    .register(web(2, { id: 'b', checks: [{ id: 'shared', type: 'ttl', ttl: '10s' }] }))
    .catch((e: unknown) => e)) as KonsulError;
  t.equal(error.code, 'check_id_taken');
  t.equal(catalog.instance('b'), undefined);
  const duplicate = (await catalog
    .register(
      web(3, {
        id: 'c',
        checks: [
          { id: 'x', type: 'ttl', ttl: '1s' },
          { id: 'x', type: 'ttl', ttl: '1s' },
        ],
      }),
    )
    .catch((e: unknown) => e)) as KonsulError;
  t.equal(duplicate.code, 'duplicate_check_id');
});

t.test('check definitions are checked for what a schema cannot express', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
  const cases: [unknown, string, RegExp][] = [
    [{ type: 'http' }, 'invalid_check', /checks\[0\]\.http/],
    [{ type: 'http', http: 'ftp://x/' }, 'invalid_check', /http: or https:/],
    [{ type: 'tcp', tcp: 'no-port' }, 'invalid_check', /host:port/],
    [{ type: 'ttl' }, 'invalid_check', /ttl/],
    [{ type: 'ttl', ttl: 'soon' }, 'invalid_duration', /checks\[0\]\.ttl/],
    [{ type: 'http', http: 'http://x/', interval: '1s', timeout: '2s' }, 'invalid_check', /timeout/],
    [{ type: 'tcp', tcp: 'h:1', ttl: '5s' }, 'invalid_check', /ttl belongs/],
  ];
  for (const [check, code, message] of cases) {
    const error = (await catalog.register(web(1, { checks: [check] })).catch((e: unknown) => e)) as KonsulError;
    t.equal(error.code, code, JSON.stringify(check));
    t.match(error.message, message);
  }
  t.equal(catalog.index, 1, 'nothing was written');
});

t.test('addresses must be an IPv4 address, an IPv6 address or a hostname', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
  t.equal((await catalog.register({ name: 'a', address: '2001:DB8::1', port: 1 })).id, 'a-2001:db8::1-1');
  t.equal((await catalog.register({ name: 'b', address: 'Web-1.Example.com.', port: 1 })).id, 'b-web-1.example.com-1');
  for (const address of ['999.1.1.1.1', 'bad host', '-x.com', 'a..b']) {
    const error = (await catalog.register({ name: 'c', address, port: 1 }).catch((e: unknown) => e)) as KonsulError;
    t.equal(error.code, 'validation_failed', address);
  }
});

t.test(
  'queries filter by name, every tag and every meta pair, and report a key that changes with the index',
  async (t) => {
    const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
    await catalog.register(web(1, { id: 'a', tags: ['v1', 'eu'], meta: { build: '7' } }));
    await catalog.register(web(2, { id: 'b', tags: ['v2', 'eu'], meta: { build: '8' } }));
    await catalog.register({ id: 'c', name: 'api', address: '10.0.1.1', port: 80, tags: ['eu'] });
    t.same(
      catalog.query({ name: 'WEB' }).instances.map((i) => i.id),
      ['a', 'b'],
    );
    t.same(
      catalog.query({ name: 'web', tags: ['eu', 'v2'] }).instances.map((i) => i.id),
      ['b'],
    );
    t.same(
      catalog.query({ name: 'web', meta: { build: '7' } }).instances.map((i) => i.id),
      ['a'],
    );
    t.same(
      catalog.query({ tags: ['eu'] }).instances.map((i) => i.id),
      ['a', 'b', 'c'],
    );
    t.same(catalog.query({ name: 'nothing' }).instances, []);
    const before = catalog.query({ name: 'web', tags: ['eu'] });
    t.equal(before.key, catalog.query({ name: 'web', tags: ['eu'] }).key);
    t.not(before.key, catalog.query({ name: 'web', tags: ['v1'] }).key);
    t.equal(
      catalog.query({ name: 'web', tags: ['eu', 'eu', 'eu'] }).key,
      before.key,
      'a repeated tag makes no new key',
    );
    await catalog.register(web(3, { id: 'd' }));
    t.not(before.key, catalog.query({ name: 'web', tags: ['eu'] }).key);
  },
);

t.test('a waiter on one service wakes on its change, not on another service', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
  await catalog.register(web(1));
  const index = catalog.serviceIndex('web');
  let woke = false;
  const waiting = catalog.waitForChange('web', index, 10_000).then(() => (woke = true));
  await catalog.register({ name: 'api', address: '10.0.0.9', port: 1 });
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(woke, false, 'another service does not wake it');
  t.equal(catalog.waiting, 1);
  await catalog.register(web(2));
  await waiting;
  t.equal(woke, true);
  t.equal(catalog.waiting, 0, 'the waiter and its timer are gone');
});

t.test('a waiter times out when nothing changes, and an index already passed answers at once', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
  await catalog.register(web(1));
  const started = Date.now();
  await catalog.waitForChange('web', catalog.serviceIndex('web'), 50);
  t.ok(Date.now() - started >= 45, 'it waited');
  const again = Date.now();
  await catalog.waitForChange('web', 0, 10_000);
  t.ok(Date.now() - again < 5000, 'it did not wait');
});

t.test('waiters beyond the limit are refused with 429 and an abort releases a waiter', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'), { maxWaiters: 2 });
  const abort = new AbortController();
  const first = catalog.waitForChange('web', 5, 10_000, abort.signal);
  const second = catalog.waitForChange('web', 5, 10_000);
  const error = (await catalog.waitForChange('web', 5, 10_000).catch((e: unknown) => e)) as KonsulError;
  t.equal(error.code, 'too_many_blocking_queries');
  t.equal(error.statusCode, 429);
  abort.abort();
  await first;
  t.equal(catalog.waiting, 1);
  catalog.releaseWaiters();
  await second;
  t.equal(catalog.waiting, 0);
});

t.test('listeners hear every committed change in order, and a note-only update writes nothing', async (t) => {
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'));
  const events: CatalogEvent[] = [];
  catalog.subscribe((event) => events.push(event));
  await catalog.register(web(1, { id: 'a', checks: [{ type: 'ttl', ttl: '5s' }] }));
  t.equal(await catalog.updateCheck('service:a', 'passing', 'one'), 3);
  t.equal(await catalog.updateCheck('service:a', 'passing', 'two'), null, 'same status, new note: no index');
  t.equal(catalog.instance('a')!.checks[0].note, 'two', 'but the live view has the note');
  t.equal(await catalog.updateCheck('service:a', 'passing', 'two'), null);
  t.same(
    events.map((e) => [e.kind, e.index]),
    [
      ['registered', 2],
      ['check-updated', 3],
      ['check-updated', null],
    ],
  );
  const error = (await catalog.updateCheck('nope', 'passing', '').catch((e: unknown) => e)) as KonsulError;
  t.equal(error.code, 'check_not_found');
});

t.test('a subscriber that throws cannot strand the other writes of its batch', async (t) => {
  const errors: unknown[] = [];
  const catalog = await openCatalog(t, join(tempDir(t), 'k.db'), { onListenerError: (error) => errors.push(error) });
  catalog.subscribe(() => {
    throw new Error('subscriber bug');
  });
  const results = await Promise.all([catalog.register(web(1)), catalog.register(web(2)), catalog.register(web(3))]);
  t.same(
    results.map((r) => r.index),
    [2, 3, 4],
    'every write of the batch was acknowledged',
  );
  t.equal(errors.length, 3, 'each failure was reported');
  t.match(String(errors[0]), /subscriber bug/);
});

import t from 'tap';
import { Errors, KonsulError } from '../src/errors.js';
import { createStrategyManager, StrategyManager } from '../src/lb/manager.js';
import { createSeededRandom } from '../src/lb/seeded-random.js';
import type { LbObserver, Strategy } from '../src/lb/types.js';
import type { Instance } from '../src/catalog/types.js';
import { candidates, ids, instance, instances, lbConfig } from './helpers/lb-fixtures.js';

const ALL = lbConfig().enabled;
const OPTIONS = { sessionKey: 'session-1', clientIp: '192.0.2.7', clientRegion: 'eu' };
const DETERMINISTIC = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'ip-hash',
  'ring-hash',
  'maglev',
  'latency-based',
];

function recordingObserver() {
  const calls: { hook: string; args: unknown[] }[] = [];
  const observer: Required<LbObserver> = {
    selection: (...args) => void calls.push({ hook: 'selection', args }),
    healthFiltered: (...args) => void calls.push({ hook: 'healthFiltered', args }),
    panic: (...args) => void calls.push({ hook: 'panic', args }),
    connections: (...args) => void calls.push({ hook: 'connections', args }),
    instanceRemoved: (...args) => void calls.push({ hook: 'instanceRemoved', args }),
    split: (...args) => void calls.push({ hook: 'split', args }),
    ejected: (...args) => void calls.push({ hook: 'ejected', args }),
  };
  return { observer, calls };
}

function catchError(fn: () => unknown): KonsulError {
  try {
    fn();
  } catch (error) {
    if (error instanceof KonsulError) return error;
    throw error;
  }
  throw new Error('expected a KonsulError');
}

t.test('every built-in strategy is registered and enabled by the default config', async (t) => {
  const manager = createStrategyManager(lbConfig());
  t.same(manager.names(), ALL);
  t.same(manager.enabled(), ALL);
  for (const name of ALL) t.equal(manager.get(name)?.name, name);
  t.equal(manager.get('nope'), undefined);
});

t.test('every strategy returns a permutation of the healthy instances, and its first k with a limit', async (t) => {
  const manager = createStrategyManager(lbConfig(), { random: createSeededRandom(7) });
  const list = instances(25, { weight: 2 });
  const all = candidates(list);
  const expected = ids(list).sort();
  for (const strategy of ALL) {
    for (let query = 0; query < 5; query++) {
      const full = manager.order(all, {
        ...OPTIONS,
        strategy,
        sessionKey: `s${query}`,
        clientIp: `10.0.0.${query}`,
      }).instances;
      t.same(ids(full).sort(), expected, `${strategy} full order #${query}`);
      for (const limit of [1, 3, 24, 25, 40]) {
        const limited = ids(manager.order(all, { ...OPTIONS, strategy, limit, sessionKey: `s${query}` }).instances);
        t.equal(limited.length, Math.min(limit, 25), `${strategy} limit ${limit} length`);
        t.equal(new Set(limited).size, limited.length, `${strategy} limit ${limit} has no duplicates`);
        t.ok(
          limited.every((id) => expected.includes(id)),
          `${strategy} limit ${limit} returns candidates only`,
        );
      }
    }
  }
});

t.test('a limit of k returns the first k of the full order for deterministic strategies', async (t) => {
  const list = instances(30).map((item, i) => ({ ...item, weight: 1 + (i % 3), region: i % 2 === 0 ? 'eu' : 'us' }));
  const config = lbConfig({ latency: { eu: { eu: 1, us: 90 } } });
  for (const strategy of DETERMINISTIC) {
    for (const limit of [1, 2, 3, 9, 17, 29]) {
      // Fresh managers so stateful strategies (rotation, SWRR) start from the same state.
      const full = createStrategyManager(config);
      const limited = createStrategyManager(config);
      for (const manager of [full, limited]) manager.reportLoad('web-04', { connections: 3, latencyMs: 5 });
      const expected = ids(full.order(candidates(list), { ...OPTIONS, strategy }).instances).slice(0, limit);
      t.same(
        ids(limited.order(candidates(list), { ...OPTIONS, strategy, limit }).instances),
        expected,
        `${strategy} limit ${limit}`,
      );
    }
  }
});

t.test('an unknown strategy is rejected with unknown_strategy listing the registered names', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const error = catchError(() => manager.order(candidates(instances(3)), { strategy: 'fastest' }));
  t.equal(error.code, Errors.unknownStrategy.code);
  t.equal(error.statusCode, 400);
  t.match(error.message, /"fastest"/);
  for (const name of ALL) t.match(error.message, name);
});

t.test('a registered strategy left out of config.enabled is rejected with strategy_disabled', async (t) => {
  const manager = createStrategyManager(lbConfig({ enabled: ['round-robin', 'maglev'] }));
  t.same(manager.enabled(), ['round-robin', 'maglev']);
  const error = catchError(() => manager.order(candidates(instances(3)), { strategy: 'random' }));
  t.equal(error.code, Errors.strategyDisabled.code);
  t.match(error.message, /round-robin, maglev/);
});

t.test(
  'ring-hash and maglev without a session key are rejected with missing_session_key, even for an empty service',
  async (t) => {
    const manager = createStrategyManager(lbConfig());
    for (const strategy of ['ring-hash', 'maglev']) {
      for (const list of [instances(3), []]) {
        for (const sessionKey of [undefined, '']) {
          const error = catchError(() => manager.order(candidates(list, 'web@1'), { strategy, sessionKey }));
          t.equal(error.code, Errors.missingSessionKey.code, `${strategy} with ${list.length} instances`);
          t.match(error.message, strategy);
        }
      }
    }
  },
);

t.test('a negative or fractional limit is rejected with invalid_limit', async (t) => {
  const manager = createStrategyManager(lbConfig());
  for (const limit of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    const error = catchError(() => manager.order(candidates(instances(3)), { limit }));
    t.equal(error.code, Errors.invalidLimit.code, `limit ${limit}`);
  }
  t.equal(manager.order(candidates(instances(3)), { limit: 0 }).instances.length, 3, 'limit 0 means all');
});

t.test('check() validates options with the same errors as order() without ordering anything', async (t) => {
  const manager = createStrategyManager(lbConfig({ enabled: ['round-robin', 'ring-hash'] }));
  t.doesNotThrow(() => manager.check(undefined, undefined, undefined));
  t.doesNotThrow(() => manager.check('ring-hash', 3, 'user-1'));
  t.equal(catchError(() => manager.check('nope')).code, 'unknown_strategy');
  t.equal(catchError(() => manager.check('maglev')).code, 'strategy_disabled');
  t.equal(catchError(() => manager.check('ring-hash', 1)).code, 'missing_session_key');
  t.equal(catchError(() => manager.check('round-robin', -2)).code, 'invalid_limit');
  t.equal(manager.cacheStats().size, 0);
});

t.test('createStrategyManager refuses a config whose default or enabled names no registered strategy', async (t) => {
  t.equal(catchError(() => createStrategyManager(lbConfig({ default: 'fastest' }))).code, 'unknown_strategy');
  t.equal(
    catchError(() => createStrategyManager(lbConfig({ enabled: ['round-robin', 'fastest'] }))).code,
    'unknown_strategy',
  );
  t.equal(
    catchError(() => createStrategyManager(lbConfig({ default: 'maglev', enabled: ['round-robin'] }))).code,
    'strategy_disabled',
  );
});

t.test('the default strategy comes from config.default', async (t) => {
  const manager = createStrategyManager(lbConfig({ default: 'maglev' }));
  t.equal(manager.order(candidates(instances(4)), { sessionKey: 'k' }).strategy, 'maglev');
  t.equal(manager.resolve().name, 'maglev');
});

t.test('registering two strategies under one name is a programming error', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const duplicate: Strategy = { name: 'random', order: (list) => [...list] };
  t.throws(() => manager.register(duplicate), /already registered/);
});

t.test('a strategy registered later is dispatched like a built-in one', async (t) => {
  const manager = new StrategyManager(lbConfig({ default: 'reverse', enabled: ['reverse'] }));
  manager.register({ name: 'reverse', order: (list, ctx) => [...list].reverse().slice(0, ctx.limit) });
  const result = manager.order(candidates(instances(4)), { limit: 2 });
  t.same(ids(result.instances), ['web-3', 'web-2']);
  t.equal(result.strategy, 'reverse');
});

t.test('the health filter drops critical instances by default and reports how many', async (t) => {
  const { observer, calls } = recordingObserver();
  const manager = createStrategyManager(lbConfig(), { observer });
  const list = [
    instance({ id: 'a' }),
    instance({ id: 'b', status: 'warning' }),
    instance({ id: 'c', status: 'critical' }),
    instance({ id: 'd', status: 'critical' }),
  ];
  const result = manager.order(candidates(list, 'web@1'), {});
  t.same(ids(result.instances).sort(), ['a', 'b']);
  t.equal(result.filtered, 2);
  t.equal(result.panic, false);
  t.same(calls.find((call) => call.hook === 'healthFiltered')?.args, ['web', 2]);
});

t.test('passingOnly also drops warning instances; healthFilter false keeps everything', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = [
    instance({ id: 'a' }),
    instance({ id: 'b', status: 'warning' }),
    instance({ id: 'c', status: 'critical' }),
  ];
  const passing = manager.order(candidates(list, 'web@1'), { passingOnly: true });
  t.same(ids(passing.instances), ['a']);
  t.equal(passing.filtered, 2);
  const unfiltered = manager.order(candidates(list, 'web@1'), { healthFilter: false });
  t.same(ids(unfiltered.instances).sort(), ['a', 'b', 'c']);
  t.equal(unfiltered.filtered, 0);
  const strict = manager.order(candidates(list, 'web@1'), { healthFilter: false, passingOnly: true });
  t.same(ids(strict.instances), ['a'], 'passingOnly applies even when the default filter is off');
});

t.test('below the panic threshold every candidate is returned, flagged as panic', async (t) => {
  const { observer, calls } = recordingObserver();
  const manager = createStrategyManager(lbConfig({ panicThreshold: 50 }), { observer });
  // 1 healthy of 4 = 25 % < 50 %.
  const list = [
    instance({ id: 'a' }),
    instance({ id: 'b', status: 'critical' }),
    instance({ id: 'c', status: 'critical' }),
    instance({ id: 'd', status: 'critical' }),
  ];
  const result = manager.order(candidates(list, 'web@1'), { strategy: 'round-robin' });
  t.same(ids(result.instances).sort(), ['a', 'b', 'c', 'd']);
  t.equal(result.panic, true);
  t.equal(result.filtered, 0);
  t.same(
    calls.filter((call) => call.hook === 'panic').map((call) => call.args),
    [['web']],
  );
  t.equal(calls.filter((call) => call.hook === 'healthFiltered').length, 0);
});

t.test('at or above the panic threshold the filter applies normally', async (t) => {
  const manager = createStrategyManager(lbConfig({ panicThreshold: 50 }));
  const list = [
    instance({ id: 'a' }),
    instance({ id: 'b' }),
    instance({ id: 'c', status: 'critical' }),
    instance({ id: 'd', status: 'critical' }),
  ];
  const result = manager.order(candidates(list, 'web@1'), {});
  t.same(ids(result.instances).sort(), ['a', 'b']);
  t.equal(result.panic, false);
  const none = createStrategyManager(lbConfig()).order(
    candidates([instance({ id: 'x', status: 'critical' })], 'web@2'),
    {},
  );
  t.same(none.instances, [], 'with panic disabled, no healthy instance means an empty answer');
  t.equal(none.filtered, 1);
});

t.test('the selection observer times each call and labels its outcome', async (t) => {
  const { observer, calls } = recordingObserver();
  const manager = createStrategyManager(lbConfig(), { observer });
  manager.order(candidates(instances(3)), { strategy: 'random' });
  manager.order(candidates([], 'web@9'), { strategy: 'random' });
  t.throws(() => manager.order(candidates(instances(3)), { strategy: 'maglev' }));
  t.throws(() => manager.order(candidates(instances(3)), { strategy: 'made-up-by-a-client' }));
  const selections = calls.filter((call) => call.hook === 'selection').map((call) => call.args);
  t.same(
    selections.map(([service, strategy, result]) => [service, strategy, result]),
    [
      ['web', 'random', 'ok'],
      ['web', 'random', 'empty'],
      ['web', 'maglev', 'error'],
      ['web', 'unknown', 'error'],
    ],
  );
  for (const [, , , seconds] of selections) t.ok(typeof seconds === 'number' && seconds >= 0 && seconds < 1);
});

t.test('an empty candidate list gives an empty answer for every strategy', async (t) => {
  const manager = createStrategyManager(lbConfig());
  for (const strategy of ALL) {
    const result = manager.order(candidates([], 'web@1'), { ...OPTIONS, strategy });
    t.same(result, { instances: [], strategy, panic: false, filtered: 0 }, strategy);
  }
});

t.test('the manager never mutates the candidate list', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = Object.freeze(instances(12).map((item) => Object.freeze(item)));
  const all = { key: 'web@1', service: 'web', instances: list };
  for (const strategy of ALL) t.doesNotThrow(() => manager.order(all, { ...OPTIONS, strategy }), strategy);
  t.same(ids(list), ids(instances(12)));
});

t.test('structures are built once per membership and rebuilt only when ids or weights change', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = instances(10);
  manager.order(candidates(list, 'web@1'), { strategy: 'ring-hash', sessionKey: 'a' });
  const built = manager.cacheStats().builds;
  t.ok(built > 0);
  for (let i = 0; i < 50; i++) manager.order(candidates(list, 'web@1'), { strategy: 'ring-hash', sessionKey: `k${i}` });
  t.equal(manager.cacheStats().builds, built, 'same key: nothing rebuilt');
  manager.order(candidates(list, 'web@2'), { strategy: 'ring-hash', sessionKey: 'a' });
  t.equal(manager.cacheStats().builds, built, 'a new catalog index with the same members: nothing rebuilt');
  const reweighted = list.map((item, i) => (i === 3 ? { ...item, weight: 2 } : item));
  manager.order(candidates(reweighted, 'web@3'), { strategy: 'ring-hash', sessionKey: 'a' });
  t.equal(manager.cacheStats().builds, built * 2, 'a weight change: rebuilt once');
});

t.test('the cache holds at most config.cacheSize entries, dropping the least recently used', async (t) => {
  const manager = createStrategyManager(lbConfig({ cacheSize: 4 }));
  // Ten services of five instances: one list entry and one Maglev table each.
  const service = (i: number) => ({
    key: `s${i}@1`,
    service: `s${i}`,
    instances: instances(5).map((item) => ({ ...item, id: `s${i}-${item.id}` })),
  });
  const services = Array.from({ length: 11 }, (_, i) => service(i));
  for (let i = 0; i < 10; i++) manager.order(services[i], { strategy: 'maglev', sessionKey: 'k' });
  t.match(manager.cacheStats(), { size: 4, capacity: 4, builds: 10, evictions: 16 });
  // s8 and s9 are cached, s8 the oldest; touching it makes s9 the next to go.
  manager.order(services[8], { strategy: 'maglev', sessionKey: 'k' });
  t.equal(manager.cacheStats().builds, 10, 'a cached table is not rebuilt');
  manager.order(services[10], { strategy: 'maglev', sessionKey: 'k' });
  manager.order(services[8], { strategy: 'maglev', sessionKey: 'k' });
  t.equal(manager.cacheStats().builds, 11, 'the recently used table survived the eviction');
  manager.order(services[9], { strategy: 'maglev', sessionKey: 'k' });
  t.equal(manager.cacheStats().builds, 12, 'the evicted table is rebuilt');
});

t.test('reportLoad smooths latency with the configured EWMA and keeps the last connection count', async (t) => {
  const { observer, calls } = recordingObserver();
  const manager = createStrategyManager(lbConfig({ latencyEwmaAlpha: 0.5 }), { observer });
  t.same(manager.loadOf('a'), { connections: 0, latencyMs: null });
  manager.reportLoad('a', { connections: 4, latencyMs: 100 }, 'web');
  manager.reportLoad('a', { latencyMs: 50 });
  manager.reportLoad('a', { connections: 2 });
  t.same(manager.loadOf('a'), { connections: 2, latencyMs: 75 });
  t.same(
    calls.filter((call) => call.hook === 'connections').map((call) => call.args),
    [
      ['web', 'a', 4],
      ['web', 'a', 2],
    ],
  );
  manager.forgetInstance('a');
  t.same(manager.loadOf('a'), { connections: 0, latencyMs: null });
  t.same(
    calls.at(-1),
    { hook: 'instanceRemoved', args: ['web', 'a'] },
    'forgetting tells the observer to drop the series',
  );
});

t.test('reportLoad rejects negative or non-finite values', async (t) => {
  const manager = createStrategyManager(lbConfig());
  t.equal(catchError(() => manager.reportLoad('a', { connections: -1 })).code, 'validation_failed');
  t.equal(catchError(() => manager.reportLoad('a', { latencyMs: Number.NaN })).code, 'validation_failed');
  t.same(manager.loadOf('a'), { connections: 0, latencyMs: null });
});

t.test('a forgotten instance reported again is seen by cached lists', async (t) => {
  const manager = createStrategyManager(lbConfig());
  const list = candidates(instances(3), 'web@1');
  manager.reportLoad('web-0', { connections: 5 });
  manager.reportLoad('web-1', { connections: 5 });
  t.equal(manager.order(list, { strategy: 'least-connections', limit: 1 }).instances[0].id, 'web-2');
  manager.forgetInstance('web-2');
  manager.reportLoad('web-2', { connections: 9 });
  t.same(ids(manager.order(list, { strategy: 'least-connections' }).instances).at(-1), 'web-2');
});

t.test(
  'an answer carries the current instance objects when the catalog replaces them under the same key',
  async (t) => {
    const manager = createStrategyManager(lbConfig());
    const first = [instance({ id: 'a' }), instance({ id: 'b' })];
    manager.order({ key: 'web@7', service: 'web', instances: first });
    // Same key (same index): a check note changed, so the catalog handed out new objects.
    const second: Instance[] = first.map((original) => ({ ...original, meta: { note: 'new' } }));
    const answer = manager.order(
      { key: 'web@7', service: 'web', instances: second },
      { strategy: 'ring-hash', sessionKey: 'k' },
    );
    t.ok(
      answer.instances.every((chosen) => second.includes(chosen)),
      'no stale object from the first call',
    );
  },
);

import t from 'tap';
import type { CatalogEvent } from '../src/catalog/catalog.js';
import { StatusHistory } from '../src/catalog/status-history.js';
import type { Check, HealthStatus, Instance } from '../src/catalog/types.js';

function instance(id: string, name: string, status: HealthStatus): Instance {
  return {
    id,
    name,
    address: '10.0.0.1',
    port: 80,
    tags: [],
    meta: {},
    weight: 1,
    region: null,
    zone: null,
    status,
    checks: [],
    createIndex: 1,
    modifyIndex: 1,
  };
}

function checkResult(id: string, name: string, from: HealthStatus, to: HealthStatus, index: number): CatalogEvent {
  const check = { id: `${id}-c`, status: to, note: `now ${to}` } as Check;
  return { kind: 'check-updated', index, instance: instance(id, name, to), check, previousStatus: from };
}

t.test('keeps status changes newest first, filtered by service', async (t) => {
  const history = new StatusHistory(10);
  history.observe(
    { kind: 'registered', index: 1, instance: instance('a', 'web', 'passing'), previous: undefined },
    100,
  );
  history.observe(checkResult('a', 'web', 'passing', 'critical', 2), 200);
  history.observe(
    { kind: 'registered', index: 3, instance: instance('b', 'api', 'critical'), previous: undefined },
    300,
  );
  history.observe({ kind: 'deregistered', index: 4, instance: instance('a', 'web', 'critical') }, 400);
  t.same(
    history.entries().map((change) => [change.at, change.kind, change.from, change.to]),
    [
      [400, 'deregistered', 'critical', null],
      [300, 'registered', null, 'critical'],
      [200, 'check', 'passing', 'critical'],
      [100, 'registered', null, 'passing'],
    ],
  );
  t.same(
    history.entries('web').map((change) => change.at),
    [400, 200, 100],
  );
  t.same(
    history.entries('web', 1).map((change) => change.at),
    [400],
  );
  t.equal(history.entries()[2].note, 'now critical', 'a check change carries its output');
  t.equal(history.entries()[2].checkId, 'a-c');
});

t.test('a result or re-registration that keeps the status is not a change', async (t) => {
  const history = new StatusHistory(10);
  history.observe(checkResult('a', 'web', 'passing', 'passing', 2), 100);
  history.observe(
    {
      kind: 'registered',
      index: 3,
      instance: instance('a', 'web', 'passing'),
      previous: instance('a', 'web', 'passing'),
    },
    200,
  );
  history.observe({ kind: 'services-forgotten', index: 4, names: ['web'] }, 300);
  t.equal(history.size, 0);
});

t.test('is bounded by count: the oldest changes go first; 0 keeps none', async (t) => {
  const history = new StatusHistory(3);
  for (let i = 0; i < 7; i++) history.observe(checkResult('a', 'web', 'passing', 'critical', i), i);
  t.equal(history.size, 3);
  t.same(
    history.entries().map((change) => change.at),
    [6, 5, 4],
  );
  const none = new StatusHistory(0);
  none.observe(checkResult('a', 'web', 'passing', 'critical', 1), 1);
  t.same(none.entries(), []);
});

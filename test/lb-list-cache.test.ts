import t from 'tap';
import { ListEntry, RotationCounters, rotationKey } from '../src/lb/list-cache.js';
import { WEIGHTS } from '../src/lb/weights.js';
import { instances } from './helpers/lb-fixtures.js';

t.test('the rotation key is the candidates key without its catalog index', async (t) => {
  t.equal(rotationKey('web@42|tag=v2'), 'web|tag=v2');
  t.equal(rotationKey('web@42'), 'web');
  t.equal(rotationKey('*@7|meta=a:b'), '*|meta=a:b');
  t.equal(rotationKey('plain'), 'plain');
  t.equal(rotationKey('odd@x'), 'odd@x');
});

t.test('rotation counters are kept per key and the least recently used is dropped first', async (t) => {
  const counters = new RotationCounters(2);
  const a = counters.get('a');
  counters.get('b');
  t.equal(counters.get('a'), a, 'a hit returns the same counter');
  counters.get('c');
  t.equal(counters.get('a'), a, 'a was used more recently than b and survived');
  t.not(counters.get('b'), undefined);
});

t.test('a new candidate array keeps the structures when ids, weights and regions are unchanged', async (t) => {
  const entry = new ListEntry('Lweb', { values: [] });
  const first = instances(4);
  const variant = entry.variant(1, first, 0);
  variant.slots.set(WEIGHTS, { marker: true });
  // A note or a meta edit: new objects, same ids and weights.
  const second = first.map((instance) => ({ ...instance, meta: { note: 'new' } }));
  t.equal(entry.variant(1, second, 0), variant);
  t.equal(variant.selection.instances, second, 'answers carry the current objects');
  t.equal(variant.slots.size, 1, 'nothing to rebuild');
  const reweighted = second.map((instance, i) => (i === 2 ? { ...instance, weight: 7 } : instance));
  entry.variant(1, reweighted, 0);
  t.equal(variant.slots.size, 0, 'a weight change drops what was built from the weights');
});

t.test('an entry measures the arrays it holds', async (t) => {
  const entry = new ListEntry('Lweb', { values: [] });
  const empty = entry.measure();
  const list = instances(1000);
  const variant = entry.variant(0, list, 0);
  variant.slots.set(WEIGHTS, {});
  t.ok(entry.measure() >= empty + 8000, `${entry.measure()} bytes for one 1,000-instance slot`);
});

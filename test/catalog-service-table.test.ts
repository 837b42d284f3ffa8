import t from 'tap';
import { ServiceTable } from '../src/catalog/service-table.js';
import type { Instance } from '../src/catalog/types.js';
import { seeded } from './helpers/seeded.js';

const instance = (id: string, name: string, modifyIndex: number): Instance => ({ id, name, modifyIndex }) as Instance;

t.test(
  'random batches of adds, replacements, moves and removals keep every service sorted and exact (seed 0x5eed)',
  async (t) => {
    const rng = seeded(0x5eed);
    const pick = (n: number) => Math.floor(rng.next() * n);
    const table = new ServiceTable();
    table.load([], new Map());
    // The model: id → instance, the plain truth the table must agree with after every batch.
    const model = new Map<string, Instance>();
    let index = 1;
    for (let round = 0; round < 300; round++) {
      const batch = table.batch();
      const writes = 1 + pick(40);
      for (let w = 0; w < writes; w++) {
        const id = `i-${pick(400).toString().padStart(3, '0')}`;
        const previous = model.get(id);
        if (previous !== undefined && pick(4) === 0) {
          batch.replace(previous, null, ++index);
          model.delete(id);
        } else {
          const next = instance(id, `svc-${pick(3)}`, ++index);
          batch.replace(previous, next, index);
          model.set(id, next);
        }
      }
      batch.commit();
      for (const name of ['svc-0', 'svc-1', 'svc-2']) {
        const expected = [...model.values()]
          .filter((each) => each.name === name)
          .sort((a, b) => (a.id < b.id ? -1 : 1));
        const actual = table.get(name)?.instances ?? [];
        if (actual.length !== expected.length || actual.some((each, i) => each !== expected[i])) {
          t.fail(
            `round ${round}: ${name} holds ${actual.map((each) => each.id).join(',')}, expected ${expected.map((each) => each.id).join(',')}`,
          );
          return;
        }
      }
    }
    t.pass('300 batches agree with the model');
    t.ok(Object.isFrozen(table.get('svc-0')!.instances), 'a published list is frozen');
  },
);

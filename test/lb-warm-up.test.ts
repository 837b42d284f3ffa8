import t from 'tap';
import { warmUpStrategies } from '../src/lb/warm-up.js';
import { lbConfig } from './helpers/lb-fixtures.js';

// The start-up warm-up orders a made-up service on a manager of its own: it must run with any
// valid configuration and leave nothing behind (a queued table build would keep an immediate).

const resources = (): string[] => process.getActiveResourcesInfo().sort();

t.test('leaves no timer or immediate behind, with the shipped slice sizes', async (t) => {
  const before = resources();
  // The shipped slice work: Maglev's table for three instances is queued, not built inline.
  warmUpStrategies(lbConfig({ buildSliceWork: 8192, buildSliceTime: '1ms' }));
  t.same(resources(), before);
});

t.test('orders with the enabled strategies only', async (t) => {
  t.doesNotThrow(() => warmUpStrategies(lbConfig({ enabled: ['round-robin', 'ring-hash'], default: 'round-robin' })));
});

import t from 'tap';
import { versionAtLeast } from '../src/catalog/sqlite-checkpoint.js';

// The checkpoints read the log with wal_checkpoint(NOOP), which an SQLite before 3.51 would
// take for PASSIVE: a store refuses such a library rather than checkpoint at every write.

t.test('compares dotted versions part by part, not as text', async (t) => {
  const since = [3, 51, 0];
  t.ok(versionAtLeast('3.53.2', since));
  t.ok(versionAtLeast('3.51.0', since));
  t.ok(versionAtLeast('3.51', since), 'a missing part is 0');
  t.ok(versionAtLeast('4.0.0', since));
  t.notOk(versionAtLeast('3.50.4', since));
  t.notOk(versionAtLeast('3.9.9', since), '9 < 51');
  t.notOk(versionAtLeast('2.99.0', since));
});

import t from 'tap';
import { fdBudget, readOpenFileLimit } from '../src/http/fd-budget.js';

const base = { maxConnections: 16384, fdReserve: 128, healthProbes: 256, dnsConnections: 4096 };

t.test('with room to spare, http.maxConnections holds and the reserve is what the other parts may use', async (t) => {
  t.same(fdBudget({ ...base, openFileLimit: 1_048_576 }), {
    maxConnections: 16384,
    reserved: 128 + 256 + 4096,
    constrainedBy: null,
    starved: false,
  });
  t.same(fdBudget({ ...base, openFileLimit: null }).maxConnections, 16384, 'an unknown limit leaves it as configured');
});

t.test('a lower open-file limit lowers the HTTP share so the reserve always fits', async (t) => {
  const budget = fdBudget({ ...base, openFileLimit: 20_000 });
  t.equal(budget.maxConnections, 20_000 - 4480);
  t.equal(budget.maxConnections + budget.reserved, 20_000, 'every descriptor is accounted for');
  t.match(budget.constrainedBy, /open-file limit 20000/);
  t.equal(budget.starved, false);
});

t.test(
  'when the reserve alone does not fit, HTTP gets half of what is left and the operator is told to raise it',
  async (t) => {
    const budget = fdBudget({ ...base, openFileLimit: 1024 });
    t.equal(budget.maxConnections, Math.floor((1024 - 128) / 2));
    t.ok(budget.maxConnections + budget.reserved <= 1024);
    t.equal(budget.starved, true);
    t.match(budget.constrainedBy, /raise `ulimit -n`/);
    t.equal(
      fdBudget({ ...base, maxConnections: 10, openFileLimit: 1024 }).maxConnections,
      10,
      'never above the configured value',
    );
  },
);

t.test('the soft open-file limit is read from /proc/self/limits', async (t) => {
  const text = [
    'Limit                     Soft Limit           Hard Limit           Units',
    'Max processes             63512                63512                processes',
    'Max open files            1024                 524288               files',
  ].join('\n');
  t.equal(readOpenFileLimit(text), 1024, 'the soft limit, not the hard one');
  t.equal(readOpenFileLimit('Max open files            unlimited            unlimited            files\n'), null);
  t.equal(readOpenFileLimit('nothing here'), null);
  if (process.platform === 'linux') t.ok((readOpenFileLimit() ?? 0) > 0, 'and this process has one');
});

import t from 'tap';
import { join } from 'node:path';
import { mkdirSync, writeFileSync, copyFileSync, readdirSync } from 'node:fs';
import Database from 'better-sqlite3';
import { SqliteStore, MIGRATIONS_DIR } from '../src/catalog/sqlite-store.js';
import { migrate, readMigrations, MigrationError } from '../src/catalog/migrate.js';
import { tempDir } from './helpers/catalog.js';

t.test('the first start applies every migration and records it; a second start applies nothing', async (t) => {
  const file = join(tempDir(t), 'k.db');
  const first = new SqliteStore(file);
  const versions = readMigrations(MIGRATIONS_DIR).map((m) => m.version);
  t.same(first.appliedMigrations, versions);
  await first.close();
  const second = new SqliteStore(file);
  t.same(second.appliedMigrations, []);
  await second.close();
  const db = new Database(file);
  t.teardown(() => db.close());
  t.same(
    (db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]).map(
      (r) => r.version,
    ),
    versions,
  );
  t.equal((db.pragma('journal_mode', { simple: true }) as string).toLowerCase(), 'wal');
});

t.test(
  'pending migrations run in order, each in its own transaction, and a failing one leaves the last good version',
  async (t) => {
    const dir = tempDir(t);
    const migrations = join(dir, 'migrations');
    mkdirSync(migrations);
    for (const file of readdirSync(MIGRATIONS_DIR)) copyFileSync(join(MIGRATIONS_DIR, file), join(migrations, file));
    writeFileSync(join(migrations, '900_add_column.sql'), 'ALTER TABLE instances ADD COLUMN extra TEXT;');
    writeFileSync(join(migrations, '901_broken.sql'), 'CREATE TABLE ok_table (x INTEGER); THIS IS NOT SQL;');
    const db = new Database(join(dir, 'k.db'));
    t.teardown(() => db.close());
    t.throws(() => migrate(db, readMigrations(migrations)));
    const applied = (
      db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]
    ).map((r) => r.version);
    t.same(applied.slice(-1), [900], 'stopped after the last good migration');
    t.equal(
      db.prepare("SELECT name FROM sqlite_master WHERE name = 'ok_table'").get(),
      undefined,
      'the broken one left nothing',
    );
  },
);

t.test('a database written by a newer Konsul refuses to start with a clear message', async (t) => {
  const file = join(tempDir(t), 'k.db');
  await new SqliteStore(file).close();
  const db = new Database(file);
  db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, 0)').run('from_the_future');
  db.close();
  t.throws(() => new SqliteStore(file), MigrationError);
  t.throws(() => new SqliteStore(file), /schema version 999 .*newer Konsul/);
});

t.test('two Konsul processes cannot open the same data file', async (t) => {
  const file = join(tempDir(t), 'k.db');
  const first = new SqliteStore(file);
  t.teardown(() => first.close());
  await first.load();
  t.throws(() => new SqliteStore(file), /in use by another Konsul process/);
});

t.test('migration files with the same version are refused', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, '001_a.sql'), 'SELECT 1;');
  writeFileSync(join(dir, '001_b.sql'), 'SELECT 1;');
  t.throws(() => readMigrations(dir), /share version 1/);
});

import { closeSync, fdatasync, mkdirSync, openSync } from 'node:fs';
import { promisify } from 'node:util';
import { dirname, resolve, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import { MigrationError, migrate, readMigrations } from './migrate.js';
import { DEFAULT_CHECKPOINT_FRAMES, WalCheckpoints } from './sqlite-checkpoint.js';
import { describeStorageFailure } from './sqlite-failure.js';
import type { CatalogSnapshot, CatalogStore, CatalogWrite } from './store.js';
import {
  worstStatus,
  type Check,
  type CheckDefinition,
  type HealthStatus,
  type Instance,
  type Maintenance,
  type ServiceConfig,
  type ServiceConfigEntry,
} from './types.js';

export const MIGRATIONS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

export interface SqliteStoreOptions {
  /** `full` fsyncs every commit (survives power loss); `normal` survives a process crash only. */
  synchronous?: 'full' | 'normal';
  migrationsDir?: string;
  /**
   * How a commit is made durable in `full` mode: the write-ahead log's file descriptor is
   * flushed to the disk with this (fdatasync on libuv's thread pool by default). Tests pass
   * their own to see when a commit waits for it.
   */
  syncFile?: (fd: number) => Promise<void>;
  /** The log is copied into the database file before the first write once it holds this many frames (pages). */
  checkpointFrames?: number;
}

const fdatasyncAsync = promisify(fdatasync);

interface InstanceRow {
  id: string;
  name: string;
  address: string;
  port: number;
  tags: string;
  meta: string;
  weight: number;
  region: string | null;
  zone: string | null;
  /** JSON Maintenance, or NULL. */
  maintenance: string | null;
  create_index: number;
  modify_index: number;
}

interface CheckRow {
  id: string;
  instance_id: string;
  definition: string;
  status: HealthStatus;
  note: string;
  status_changed_at: number;
}

/** The catalog on one SQLite file in WAL mode. Only prepared statements; one transaction per commit. */
export class SqliteStore implements CatalogStore {
  readonly location: string;
  readonly appliedMigrations: number[];
  private readonly db: SqliteDatabase;
  private readonly statements: ReturnType<typeof prepareStatements>;
  /** The write-ahead log and the database file, flushed off the event loop; -1 once closed. */
  private walFd = -1;
  private dbFd = -1;
  /** `full` mode flushes the log after each commit; `normal` only around a checkpoint. */
  private readonly flushEachCommit: boolean;
  private readonly checkpoints: WalCheckpoints;
  private readonly syncFile: (fd: number) => Promise<void>;
  private readonly commitBatch: (writes: readonly CatalogWrite[]) => void;
  /** A transaction that writes one page and leaves the data as it was: it fails where a commit would. */
  private readonly probeWrite: () => void;

  constructor(file: string, options: SqliteStoreOptions = {}) {
    this.location = resolve(file);
    this.syncFile = options.syncFile ?? fdatasyncAsync;
    this.flushEachCommit = options.synchronous !== 'normal';
    let db: SqliteDatabase | undefined;
    try {
      mkdirSync(dirname(this.location), { recursive: true });
      // A short busy timeout: the only other holder of the lock would be a second Konsul.
      db = new Database(this.location, { timeout: 1000 });
      // One Konsul per file: a second server would keep its own in-memory view and diverge.
      // EXCLUSIVE must come before WAL: set first, SQLite keeps the wal-index in heap memory
      // instead of a shared -shm file and holds the file lock for the connection's lifetime
      // (sqlite.org/wal.html#noshm). Set after, the lock was only taken at the first write, so a
      // second process could open the file and then every write of both failed "database is locked".
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      // SQLite's FULL calls fsync inside the commit, on the event loop: 0.1-0.3 ms a commit on
      // this machine's disk and up to 5 ms at times, while DNS and every request waited. So
      // SQLite runs NORMAL, in `full` mode commit() flushes the log itself with fdatasync on
      // libuv's thread pool before it resolves, and WalCheckpoints makes the checkpoints, where
      // NORMAL would still sync on the loop: the same durability, with the loop free.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      // Take the lock now, whatever the schema needs: a second process then stops here.
      db.exec('BEGIN IMMEDIATE; COMMIT');
      this.appliedMigrations = migrate(db, readMigrations(options.migrationsDir ?? MIGRATIONS_DIR));
      this.statements = prepareStatements(db);
      this.probeWrite = db.transaction(() => {
        this.statements.bumpIndex.run(1);
        this.statements.bumpIndex.run(-1);
      });
      // A start on a full disk fails here, in one line, rather than at the first registration.
      this.probeWrite();
      // The log exists once something was written; in EXCLUSIVE mode SQLite keeps it (and this
      // descriptor's file) until the connection closes.
      this.walFd = openSync(`${this.location}-wal`, 'r');
      this.dbFd = openSync(this.location, 'r');
      this.checkpoints = new WalCheckpoints(
        db,
        this.walFd,
        this.dbFd,
        this.syncFile,
        options.checkpointFrames ?? DEFAULT_CHECKPOINT_FRAMES,
      );
    } catch (error) {
      this.closeFiles();
      if (db?.open === true) db.close();
      if (error instanceof MigrationError)
        throw new MigrationError(`${this.location}: ${error.message}`, { cause: error });
      throw describeStorageFailure(error, this.location);
    }
    this.db = db;
    this.commitBatch = this.db.transaction((writes: readonly CatalogWrite[]) => {
      for (const write of writes) this.apply(write);
      this.statements.setIndex.run(writes[writes.length - 1].index);
    });
  }

  async load(): Promise<CatalogSnapshot> {
    const { selectIndex, selectServices, selectInstances, selectChecks, selectConfigs } = this.statements;
    const index = (selectIndex.get() as { value: number }).value;
    const serviceIndexes = new Map<string, number>();
    for (const row of selectServices.all() as { name: string; modify_index: number }[])
      serviceIndexes.set(row.name, row.modify_index);
    const checksByInstance = new Map<string, Check[]>();
    for (const row of selectChecks.all() as CheckRow[]) {
      const check: Check = {
        ...(JSON.parse(row.definition) as CheckDefinition),
        instanceId: row.instance_id,
        status: row.status,
        note: row.note,
        statusChangedAt: row.status_changed_at,
      };
      const list = checksByInstance.get(row.instance_id);
      if (list === undefined) checksByInstance.set(row.instance_id, [check]);
      else list.push(check);
    }
    const instances = (selectInstances.all() as InstanceRow[]).map((row): Instance => {
      const checks = checksByInstance.get(row.id) ?? [];
      return {
        id: row.id,
        name: row.name,
        address: row.address,
        port: row.port,
        tags: JSON.parse(row.tags) as string[],
        meta: JSON.parse(row.meta) as Record<string, string>,
        weight: row.weight,
        region: row.region,
        zone: row.zone,
        ...(row.maintenance === null ? {} : { maintenance: JSON.parse(row.maintenance) as Maintenance }),
        status: worstStatus(checks),
        checks,
        createIndex: row.create_index,
        modifyIndex: row.modify_index,
      };
    });
    const serviceConfigs = (selectConfigs.all() as { name: string; config: string; modify_index: number }[]).map(
      (row): ServiceConfigEntry => ({
        name: row.name,
        config: JSON.parse(row.config) as ServiceConfig,
        modifyIndex: row.modify_index,
      }),
    );
    return { index, instances, serviceIndexes, serviceConfigs };
  }

  async commit(writes: readonly CatalogWrite[]): Promise<void> {
    if (writes.length === 0) return;
    try {
      await this.checkpoints.beforeWrite();
      this.commitBatch(writes);
      // A failed flush leaves the transaction in the log, as a failed fsync inside SQLite's own
      // FULL commit would: it may reappear after a restart though the writers were refused.
      await this.flushLog();
    } catch (error) {
      throw describeStorageFailure(error, this.location);
    }
  }

  async probe(): Promise<void> {
    try {
      await this.checkpoints.beforeWrite();
      this.probeWrite();
      await this.flushLog();
    } catch (error) {
      throw describeStorageFailure(error, this.location);
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
    this.closeFiles();
  }

  /** `full` mode: the log on the disk before the commit counts as done. The catalog never commits while one is flushing. */
  private async flushLog(): Promise<void> {
    if (this.flushEachCommit && this.walFd >= 0) await this.syncFile(this.walFd);
  }

  private closeFiles(): void {
    if (this.walFd >= 0) closeSync(this.walFd);
    if (this.dbFd >= 0) closeSync(this.dbFd);
    this.walFd = -1;
    this.dbFd = -1;
  }

  private apply(write: CatalogWrite): void {
    const s = this.statements;
    switch (write.kind) {
      case 'upsert': {
        const i = write.instance;
        s.upsertInstance.run(
          i.id,
          i.name,
          i.address,
          i.port,
          JSON.stringify(i.tags),
          JSON.stringify(i.meta),
          i.weight,
          i.region,
          i.zone,
          i.maintenance === undefined ? null : JSON.stringify(i.maintenance),
          i.createIndex,
          i.modifyIndex,
        );
        s.deleteChecks.run(i.id);
        i.checks.forEach((check, position) => {
          s.insertCheck.run(
            check.id,
            i.id,
            position,
            JSON.stringify(definitionOf(check)),
            check.status,
            check.note,
            check.statusChangedAt,
          );
        });
        s.setServiceIndex.run(i.name, write.index);
        if (write.previousName !== undefined) s.setServiceIndex.run(write.previousName, write.index);
        return;
      }
      case 'delete':
        s.deleteInstance.run(write.id);
        s.setServiceIndex.run(write.name, write.index);
        return;
      case 'service-config':
        if (write.config === null) s.deleteConfig.run(write.name);
        else s.upsertConfig.run(write.name, JSON.stringify(write.config), write.index);
        s.setServiceIndex.run(write.name, write.index);
        return;
      case 'forget-services':
        for (const name of write.names) s.deleteService.run(name);
        return;
      case 'check-status':
        s.updateCheckStatus.run(write.status, write.note, write.statusChangedAt, write.checkId);
        s.setInstanceIndex.run(write.index, write.instanceId);
        s.setServiceIndex.run(write.name, write.index);
        return;
    }
  }
}

function definitionOf(check: Check): CheckDefinition {
  const { instanceId: _instanceId, status: _status, note: _note, statusChangedAt: _changedAt, ...definition } = check;
  return definition;
}

function prepareStatements(db: SqliteDatabase) {
  const s = (sql: string): Statement => db.prepare(sql);
  return {
    selectIndex: s('SELECT value FROM catalog_index WHERE id = 1'),
    setIndex: s('UPDATE catalog_index SET value = ? WHERE id = 1'),
    // Moves the index away and back (see probeWrite): SQLite skips rewriting a row with the
    // same content, so a plain `SET value = value` would touch no page and never fail.
    bumpIndex: s('UPDATE catalog_index SET value = value + ? WHERE id = 1'),
    selectServices: s('SELECT name, modify_index FROM services'),
    setServiceIndex: s(
      'INSERT INTO services (name, modify_index) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET modify_index = excluded.modify_index',
    ),
    deleteService: s('DELETE FROM services WHERE name = ?'),
    selectInstances: s('SELECT * FROM instances ORDER BY id'),
    selectChecks: s(
      'SELECT id, instance_id, definition, status, note, status_changed_at FROM checks ORDER BY instance_id, position',
    ),
    upsertInstance:
      s(`INSERT INTO instances (id, name, address, port, tags, meta, weight, region, zone, maintenance, create_index, modify_index)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET name = excluded.name, address = excluded.address, port = excluded.port,
        tags = excluded.tags, meta = excluded.meta, weight = excluded.weight, region = excluded.region,
        zone = excluded.zone, maintenance = excluded.maintenance, modify_index = excluded.modify_index`),
    deleteInstance: s('DELETE FROM instances WHERE id = ?'),
    deleteChecks: s('DELETE FROM checks WHERE instance_id = ?'),
    insertCheck: s(
      'INSERT INTO checks (id, instance_id, position, definition, status, note, status_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    updateCheckStatus: s('UPDATE checks SET status = ?, note = ?, status_changed_at = ? WHERE id = ?'),
    setInstanceIndex: s('UPDATE instances SET modify_index = ? WHERE id = ?'),
    selectConfigs: s('SELECT name, config, modify_index FROM service_configs ORDER BY name'),
    upsertConfig: s(
      'INSERT INTO service_configs (name, config, modify_index) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET config = excluded.config, modify_index = excluded.modify_index',
    ),
    deleteConfig: s('DELETE FROM service_configs WHERE name = ?'),
  };
}

/** The store for a config's `storage` section. */
export function openSqliteStore(dataDir: string, file: string, synchronous: 'full' | 'normal'): SqliteStore {
  return new SqliteStore(join(dataDir, file), { synchronous });
}

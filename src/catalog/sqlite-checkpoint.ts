import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';

/** SQLite's own default: a checkpoint once the log holds 1,000 pages. */
export const DEFAULT_CHECKPOINT_FRAMES = 1000;
/**
 * `wal_checkpoint(NOOP)` came with SQLite 3.51; an older library takes any mode it does not know
 * for PASSIVE, which would checkpoint, with SQLite's syncs, at every write.
 */
const NOOP_SINCE: readonly number[] = [3, 51, 0];

interface CheckpointState {
  /** Frames in the write-ahead log. */
  log: number;
  /** Of those, frames already copied into the database file. */
  checkpointed: number;
}

/**
 * Checkpoints of the write-ahead log with their disk flushes off the event loop.
 *
 * SQLite's automatic checkpoint runs inside the commit that crosses 1,000 frames and, with
 * synchronous NORMAL, flushes the log and then the database file there, on the event loop:
 * 12-15 ms stalls of DNS and every request, several times a second under steady registration.
 * Here the automatic checkpoint is off; before the first write once the log holds enough
 * frames, the log is flushed on libuv's thread pool, the pages are copied with SQLite's syncs
 * off, and the database file is flushed on the thread pool too. Only then may the write go:
 * it is the write that rewinds the log over the copied frames, so they must be safe in the
 * file first. The order is SQLite's own (log, copy, file, rewind); only where the waits happen
 * changes.
 */
export class WalCheckpoints {
  /** Prepared once: it runs before every write, and db.pragma() prepares its statement at each call. */
  private readonly readCounters: Statement;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly walFd: number,
    private readonly dbFd: number,
    private readonly syncFile: (fd: number) => Promise<void>,
    private readonly frames: number,
  ) {
    const version = (db.prepare('SELECT sqlite_version() AS version').get() as { version: string }).version;
    if (!versionAtLeast(version, NOOP_SINCE))
      throw new Error(`SQLite ${version} is older than ${NOOP_SINCE.join('.')}, which Konsul's checkpoints need`);
    db.pragma('wal_autocheckpoint = 0');
    this.readCounters = db.prepare('PRAGMA wal_checkpoint(NOOP)');
  }

  /**
   * Call before each write transaction, one at a time. Rejects if a flush or the copy fails;
   * the write must then not go, since it could rewind the log over pages the file lacks.
   */
  async beforeWrite(): Promise<void> {
    if (this.uncopiedFrames() < this.frames) return;
    await this.syncFile(this.walFd);
    // OFF only for the copy: the flushes around it are the two awaited here.
    this.db.pragma('synchronous = OFF');
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
    await this.syncFile(this.dbFd);
  }

  /** NOOP reads the log's counters without copying anything (SQLite 3.51 and later). */
  private uncopiedFrames(): number {
    const state = this.readCounters.get() as CheckpointState;
    return state.log - state.checkpointed;
  }
}

/** Whether a dotted version (`3.53.2`) is `wanted` or later, part by part. */
export function versionAtLeast(version: string, wanted: readonly number[]): boolean {
  const parts = version.split('.').map(Number);
  for (let i = 0; i < wanted.length; i++) {
    const part = parts[i] ?? 0;
    if (part !== wanted[i]) return part > wanted[i];
  }
  return true;
}

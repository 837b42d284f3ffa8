/**
 * One line for a SQLite failure, naming the data file: what an operator reads when Konsul will
 * not start, or when a write is refused. better-sqlite3 gives the extended result code
 * (`SQLITE_IOERR_SHMSIZE`) but not the errno behind it, so the codes that only a full disk
 * produces are named as such, and the others keep SQLite's own words beside the code.
 */
import { StorageError } from './store.js';

/**
 * SQLITE_FULL is ENOSPC on a write; SQLITE_IOERR_SHMSIZE is the shared-memory file failing to
 * grow, which on Linux is ENOSPC on its fallocate (it was the start-up error on a full disk
 * before the wal-index moved to heap memory, see sqlite-store.ts).
 */
const DISK_FULL = new Set(['SQLITE_FULL', 'SQLITE_IOERR_SHMSIZE']);
const IN_USE = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_RECOVERY', 'SQLITE_LOCKED']);

export function isDiskFull(error: unknown): boolean {
  return DISK_FULL.has(sqliteCode(error) ?? '');
}

export function isInUse(error: unknown): boolean {
  return IN_USE.has(sqliteCode(error) ?? '');
}

/** `error` as one line that names `file`; the code is kept on the result. */
export function describeStorageFailure(error: unknown, file: string): StorageError {
  const code = sqliteCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code !== undefined && DISK_FULL.has(code)) {
    return new StorageError(`disk full: cannot write ${file} (${code})`, code, `disk full (${code})`, { cause: error });
  }
  if (code !== undefined && IN_USE.has(code)) {
    return new StorageError(`the data file ${file} is in use by another Konsul process`, code, undefined, {
      cause: error,
    });
  }
  if (code === 'SQLITE_CANTOPEN') {
    return new StorageError(
      `cannot open the data file ${file}: check that its directory is writable (${code})`,
      code,
      undefined,
      {
        cause: error,
      },
    );
  }
  if (code?.startsWith('SQLITE_READONLY') === true)
    return new StorageError(`the data file ${file} is read-only (${code})`, code, undefined, { cause: error });
  if (code === 'SQLITE_NOTADB' || code?.startsWith('SQLITE_CORRUPT') === true) {
    return new StorageError(`the data file ${file} is not a Konsul database or is damaged (${code})`, code, undefined, {
      cause: error,
    });
  }
  const detail = `${message}${code === undefined ? '' : ` (${code})`}`;
  return new StorageError(`the data file ${file}: ${detail}`, code, detail, { cause: error });
}

function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

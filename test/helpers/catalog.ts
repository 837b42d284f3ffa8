import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Catalog, type CatalogOptions } from '../../src/catalog/catalog.js';
import { SqliteStore } from '../../src/catalog/sqlite-store.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A fresh directory removed when the test ends. */
export function tempDir(t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'konsul-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const CHECK_DEFAULTS = { interval: '10s', timeout: '5s' };

/** A catalog on a real SQLite file; closed when the test ends. */
export async function openCatalog(t: Teardown, file: string, options: Partial<CatalogOptions> = {}): Promise<Catalog> {
  const catalog = await Catalog.open(new SqliteStore(file), { checkDefaults: CHECK_DEFAULTS, ...options });
  t.teardown(() => catalog.close());
  return catalog;
}

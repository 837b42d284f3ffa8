/**
 * `npm run catalog:export -- --out catalog.json [--data-dir ./data] [--file konsul.db]`: writes a
 * stopped node's SQLite catalog (instances, checks and their statuses, maintenance, service
 * configs) to one JSON file, for `npm run catalog:import` to load into etcd. Defaults come from
 * the config (KONSUL_CONFIG, KONSUL_DATA_DIR, ...), as the node would read them. See docs/cluster.md.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportSqliteCatalog } from '../src/cluster/catalog-transfer.js';
import { loadConfig } from '../src/config/load.js';

const USAGE = 'usage: npm run catalog:export -- --out FILE|- [--data-dir DIR] [--file NAME]';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      'data-dir': { type: 'string' },
      file: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true || values.out === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return values.help === true ? 0 : 2;
  }
  const config = loadConfig();
  const source = join(values['data-dir'] ?? config.storage.dataDir, values.file ?? config.storage.file);
  const catalog = await exportSqliteCatalog(source);
  const text = `${JSON.stringify(catalog, null, 1)}\n`;
  if (values.out === '-') {
    process.stdout.write(text);
  } else {
    // Written beside and renamed: an interrupted export never leaves half a file under the name.
    writeFileSync(`${values.out}.partial`, text);
    renameSync(`${values.out}.partial`, values.out);
  }
  const checks = catalog.instances.reduce((sum, instance) => sum + instance.checks.length, 0);
  process.stderr.write(
    `exported ${catalog.instances.length} instances, ${checks} checks and ${catalog.serviceConfigs?.length ?? 0} service configs (index ${catalog.index}) from ${catalog.source} to ${values.out}\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`catalog:export: ${(error as Error).message}\n`);
    process.exit(1);
  },
);

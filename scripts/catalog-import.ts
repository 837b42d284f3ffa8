/**
 * `npm run catalog:import -- --in catalog.json [--etcd http://h1:2379,http://h2:2379] [--prefix /konsul/] [--replace]`:
 * loads a file written by `npm run catalog:export` into etcd, as Konsul nodes write it. Refuses
 * when etcd already holds a catalog under the prefix unless --replace is given (which deletes it
 * first). Defaults come from the config (KONSUL_ETCD_ENDPOINTS, KONSUL_ETCD_PREFIX, ...). Run it
 * before starting the cluster's nodes. See docs/cluster.md.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { importIntoEtcd, parseCatalogFile } from '../src/cluster/catalog-transfer.js';
import { loadConfig } from '../src/config/load.js';
import { parseDuration } from '../src/duration.js';

const USAGE = 'usage: npm run catalog:import -- --in FILE|- [--etcd URL,URL,...] [--prefix /konsul/] [--replace]';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      in: { type: 'string' },
      etcd: { type: 'string' },
      prefix: { type: 'string' },
      replace: { type: 'boolean', default: false },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true || values.in === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return values.help === true ? 0 : 2;
  }
  const overrides =
    values.etcd === undefined && values.prefix === undefined
      ? {}
      : {
          store: {
            etcd: {
              ...(values.etcd === undefined ? {} : { endpoints: values.etcd.split(',').map((url) => url.trim()) }),
              ...(values.prefix === undefined ? {} : { prefix: values.prefix }),
            },
          },
        };
  // The config's schema checks the endpoints and the prefix as it does for a node.
  const { etcd } = loadConfig({ overrides }).store;
  const file = parseCatalogFile(readFileSync(values.in === '-' ? 0 : values.in, 'utf8'));
  const client = new Etcd3({ hosts: etcd.endpoints, dialTimeout: parseDuration(etcd.requestTimeout)! });
  try {
    const result = await importIntoEtcd(client, etcd.prefix, file, { replace: values.replace });
    process.stderr.write(
      `imported ${result.instances} instances, ${result.checks} checks and ${result.serviceConfigs} service configs from ${file.source} into etcd under ${etcd.prefix}` +
        `${result.replaced > 0 ? ` (replaced ${result.replaced} keys)` : ''}, revision ${result.revision}\n`,
    );
    return 0;
  } finally {
    client.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`catalog:import: ${(error as Error).message}\n`);
    process.exit(1);
  },
);

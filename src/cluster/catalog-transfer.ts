import { existsSync } from 'node:fs';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import type { Etcd3, IRequestOp } from 'etcd3';
import { SqliteStore } from '../catalog/sqlite-store.js';
import { compareById, type Instance } from '../catalog/types.js';
import { ServiceConfigSchema } from '../http/routes/service-config.js';
import { InstanceDetailSchema, ServiceName } from '../http/schemas.js';
import { encodeConfig, encodeInstance, EtcdKeys, prefixEnd } from './etcd-codec.js';

/**
 * Moving a catalog between stores: a SQLite catalog is exported to one JSON file, which is
 * imported into etcd (`npm run catalog:export`, `npm run catalog:import`, docs/cluster.md).
 * The file keeps every instance with its checks, their statuses, notes and status-change times
 * and its maintenance, and every service's config (PUT /catalog/services/:name/config);
 * indexes are not carried over, as in etcd they are revisions (every imported instance gets
 * the revision of the transaction that wrote it).
 */
export const CATALOG_FILE_FORMAT = 'konsul-catalog/1';

export const CatalogFileSchema = Type.Object(
  {
    format: Type.Literal(CATALOG_FILE_FORMAT),
    /** Where it came from and when (informational). */
    source: Type.String(),
    exportedAt: Type.String(),
    /** The source catalog's index at the export. */
    index: Type.Integer({ minimum: 0 }),
    instances: Type.Array(InstanceDetailSchema),
    /** Absent in files written before configs were carried: such a file imports no config. */
    serviceConfigs: Type.Optional(
      Type.Array(Type.Object({ name: ServiceName, config: ServiceConfigSchema }, { additionalProperties: false })),
    ),
  },
  { additionalProperties: false },
);
export type CatalogFile = Static<typeof CatalogFileSchema>;

const CHECK_TYPES: ReadonlySet<string> = new Set(['http', 'tcp', 'ttl']);

export class TransferError extends Error {
  override name = 'TransferError';
}

/**
 * Reads a stopped node's SQLite catalog. The file is opened as Konsul opens it (the same lock),
 * so a node still running on it makes this fail rather than export a moving catalog.
 */
export async function exportSqliteCatalog(file: string, now: () => Date = () => new Date()): Promise<CatalogFile> {
  if (!existsSync(file)) throw new TransferError(`${file}: no such file (give the node's storage.dataDir and file)`);
  const store = new SqliteStore(file);
  try {
    const snapshot = await store.load();
    return {
      format: CATALOG_FILE_FORMAT,
      source: `sqlite ${store.location}`,
      exportedAt: now().toISOString(),
      index: snapshot.index,
      instances: [...snapshot.instances].sort(compareById),
      serviceConfigs: snapshot.serviceConfigs
        .map(({ name, config }) => ({ name, config }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    };
  } finally {
    await store.close();
  }
}

/**
 * The file's catalog, checked: its schema, unique instance ids, unique check ids held by their
 * instance, one config per service (names as the catalog keeps them, lower case).
 */
export function parseCatalogFile(text: string): CatalogFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new TransferError(`not JSON: ${(error as Error).message}`);
  }
  if (!Value.Check(CatalogFileSchema, parsed)) {
    const first = [...Value.Errors(CatalogFileSchema, parsed)][0];
    throw new TransferError(`not a ${CATALOG_FILE_FORMAT} file: ${first.instancePath || '(root)'} ${first.message}`);
  }
  const file = parsed;
  const ids = new Set<string>();
  const checkIds = new Set<string>();
  for (const instance of file.instances) {
    if (ids.has(instance.id)) throw new TransferError(`instance id ${instance.id} appears twice`);
    ids.add(instance.id);
    for (const check of instance.checks) {
      if (!CHECK_TYPES.has(check.type)) throw new TransferError(`check ${check.id} has unknown type ${check.type}`);
      if (checkIds.has(check.id)) throw new TransferError(`check id ${check.id} appears twice`);
      if (check.instanceId !== instance.id)
        throw new TransferError(`check ${check.id} is listed under ${instance.id} but names ${check.instanceId}`);
      checkIds.add(check.id);
    }
  }
  const configNames = new Set<string>();
  for (const { name } of file.serviceConfigs ?? []) {
    if (name !== name.toLowerCase()) throw new TransferError(`service config ${name} is not in lower case`);
    if (configNames.has(name)) throw new TransferError(`service config ${name} appears twice`);
    configNames.add(name);
  }
  return file;
}

export interface ImportOptions {
  /** Delete a catalog already under the prefix first; without it a non-empty prefix is refused. */
  replace: boolean;
  /** etcd operations per transaction (its --max-txn-ops, 128 by default). */
  maxOpsPerTxn?: number;
}

export interface ImportResult {
  instances: number;
  checks: number;
  serviceConfigs: number;
  /** Instances, checks and service configs that were under the prefix and were deleted (replace only). */
  replaced: number;
  /** The revision of the last transaction. */
  revision: number;
}

/**
 * Writes the file's catalog under `prefix` as Konsul nodes write it (etcd-codec.ts): one key per
 * instance (its maintenance inside), one per check id and one per service config. Run it before starting the nodes, or with them stopped: a node
 * writing meanwhile could take a check id the file also holds.
 */
export async function importIntoEtcd(
  client: Etcd3,
  prefix: string,
  file: CatalogFile,
  options: ImportOptions,
): Promise<ImportResult> {
  const keys = new EtcdKeys(prefix);
  const maxOps = options.maxOpsPerTxn ?? 128;
  const count = async (sub: string) =>
    Number((await client.kv.range({ key: Buffer.from(sub), range_end: prefixEnd(sub), count_only: true })).count);
  const there = (await count(keys.instances)) + (await count(keys.checks)) + (await count(keys.configs));
  if (there > 0 && !options.replace)
    throw new TransferError(
      `etcd already holds a catalog under ${prefix} (${there} instance, check and service config keys); give --replace to delete it first`,
    );
  let replaced = 0;
  if (there > 0) {
    // Instances, check ids, configs and loads go; membership keys (on leases) are live nodes' and stay.
    for (const sub of [keys.instances, keys.checks, keys.configs, `${prefix}load/`]) {
      const deleted = await client.kv.deleteRange({ key: Buffer.from(sub), range_end: prefixEnd(sub) });
      if (sub !== `${prefix}load/`) replaced += Number(deleted.deleted);
    }
  }
  let ops: IRequestOp[] = [];
  let revision = 0;
  let checks = 0;
  const flush = async () => {
    if (ops.length === 0) return;
    const response = await client.kv.txn({ compare: [], success: ops });
    revision = Number(response.header.revision);
    ops = [];
  };
  for (const entry of file.instances) {
    const instance = entry as Instance;
    const needed = 1 + instance.checks.length;
    if (ops.length + needed > maxOps) await flush();
    ops.push({ request_put: { key: keys.instance(instance.id), value: encodeInstance(instance) } });
    const owner = Buffer.from(instance.id);
    for (const check of instance.checks) ops.push({ request_put: { key: keys.check(check.id), value: owner } });
    checks += instance.checks.length;
  }
  const configs = file.serviceConfigs ?? [];
  for (const { name, config } of configs) {
    if (ops.length + 1 > maxOps) await flush();
    ops.push({ request_put: { key: keys.config(name), value: encodeConfig(name, config) } });
  }
  await flush();
  return { instances: file.instances.length, checks, serviceConfigs: configs.length, replaced, revision };
}

import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCatalogFile, TransferError } from '../../src/cluster/catalog-transfer.js';
import { tempDir } from '../helpers/catalog.js';
import { openEtcdStore, startEtcd, uniquePrefix } from '../helpers/etcd.js';
import { json, startTestKonsul } from '../helpers/konsul.js';

/**
 * Moving a catalog from SQLite into etcd with the real commands (`npm run catalog:export`,
 * `npm run catalog:import`, run here as the scripts they start): a SQLite node's file is
 * exported, imported into real etcd, and a cluster node then serves the same instances, checks,
 * statuses, maintenance and service configs.
 */
const EXPORT = fileURLToPath(new URL('../../scripts/catalog-export.ts', import.meta.url));
const IMPORT = fileURLToPath(new URL('../../scripts/catalog-import.ts', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runScript(script: string, args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', script, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
      },
    );
  });
}

interface Detail {
  id: string;
  name: string;
  status: string;
  checks: { id: string; status: string; note: string; type: string; statusChangedAt: number }[];
}

/** What a node serves of an instance, without the indexes (etcd gives its own revisions). */
async function served(server: Awaited<ReturnType<typeof startTestKonsul>>, ids: readonly string[]) {
  const out: Record<string, unknown> = {};
  for (const id of ids) {
    const response = await server.app.inject({ url: `/catalog/instances/${id}` });
    const { createIndex: _created, modifyIndex: _modified, ...rest } = json<Detail & Record<string, unknown>>(response);
    out[id] = rest;
  }
  return out;
}

const REGISTRATIONS = [
  {
    id: 'api-1',
    name: 'api',
    address: '10.0.0.1',
    port: 8080,
    tags: ['v2'],
    meta: { team: 'core' },
    weight: 5,
    zone: 'z1',
    checks: [
      { id: 'api-1-ttl', type: 'ttl', ttl: '30s', status: 'passing' },
      { id: 'api-1-http', type: 'http', http: 'http://127.0.0.1:9/health', interval: '10s', status: 'warning' },
    ],
  },
  {
    id: 'api-2',
    name: 'api',
    address: '10.0.0.2',
    port: 8080,
    checks: [{ id: 'api-2-tcp', type: 'tcp', tcp: '127.0.0.1:9' }],
  },
  { id: 'db-1', name: 'db', address: '10.0.1.1', port: 5432 },
];
const IDS = REGISTRATIONS.map((registration) => registration.id);
const CONFIGS = {
  api: { lb: 'least-connections', limit: 5, split: [{ tag: 'v2', weight: 90 }], slowStart: '30s' },
  db: { passing: true, panicThreshold: 40 },
};

/** What a node serves of each service's config, without the index (etcd gives its own revisions). */
async function servedConfigs(server: Awaited<ReturnType<typeof startTestKonsul>>) {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(CONFIGS)) {
    const response = await server.app.inject({ url: `/catalog/services/${name}/config` });
    out[name] = response.statusCode === 200 ? json<{ config: unknown }>(response).config : response.statusCode;
  }
  return out;
}

t.test('a SQLite catalog exported and imported into etcd is served the same by a cluster node', async (t) => {
  const etcd = await startEtcd(t, 1);
  const prefix = uniquePrefix();
  const dataDir = tempDir(t);
  const file = join(tempDir(t), 'catalog.json');

  // Health checks off on both sides: the statuses compared are the stored ones, not fresh runs.
  const sqlite = await startTestKonsul(t, { storage: { dataDir }, health: { enabled: false } });
  for (const registration of REGISTRATIONS) {
    const response = await sqlite.app.inject({ method: 'PUT', url: '/catalog/register', payload: registration });
    t.equal(response.statusCode, 200, `registered ${registration.id}`);
  }
  for (const [name, config] of Object.entries(CONFIGS)) {
    const response = await sqlite.app.inject({
      method: 'PUT',
      url: `/catalog/services/${name}/config`,
      payload: config,
    });
    t.equal(response.statusCode, 200, `configured ${name}`);
  }
  const maintenance = await sqlite.app.inject({
    method: 'PUT',
    url: '/catalog/instances/db-1/maintenance',
    payload: { enable: true, reason: 'disk swap' },
  });
  t.equal(maintenance.statusCode, 200);
  const before = await served(sqlite, IDS);
  t.match(before, { 'api-1': { status: 'warning' }, 'api-2': { status: 'critical' }, 'db-1': { status: 'passing' } });
  t.match(before, { 'db-1': { maintenance: { reason: 'disk swap' } } }, 'db-1 is in maintenance');
  const configsBefore = await servedConfigs(sqlite);
  t.same(configsBefore, CONFIGS);

  const locked = await runScript(EXPORT, ['--data-dir', dataDir, '--out', file]);
  t.not(locked.code, 0, 'a node still running on the file makes the export fail');
  await sqlite.close();

  const exported = await runScript(EXPORT, ['--data-dir', dataDir, '--out', file]);
  t.equal(exported.code, 0, exported.stderr);
  t.match(exported.stderr, /exported 3 instances, 3 checks and 2 service configs/);
  const catalogFile = parseCatalogFile(readFileSync(file, 'utf8'));
  t.same(
    catalogFile.instances.map((instance) => instance.id),
    IDS,
  );

  const imported = await runScript(IMPORT, ['--etcd', etcd.endpoints.join(','), '--prefix', prefix, '--in', file]);
  t.equal(imported.code, 0, imported.stderr);
  t.match(imported.stderr, /imported 3 instances, 3 checks and 2 service configs/);

  const node = await startTestKonsul(t, {
    store: { type: 'etcd', nodeName: 'k1', etcd: { endpoints: etcd.endpoints, prefix } },
    health: { enabled: false },
  });
  t.same(await served(node, IDS), before, 'the cluster node serves the same instances, checks, statuses, maintenance');
  t.same(await servedConfigs(node), configsBefore, 'and the same service configs');
  const answered = await node.app.inject({ url: '/catalog/services/db' });
  t.same(json<unknown[]>(answered), [], 'the instance in maintenance stays out of answers');
  const listed = await node.app.inject({ url: '/catalog/services/api?health-filter=false' });
  t.same(
    json<{ id: string }[]>(listed)
      .map((instance) => instance.id)
      .sort(),
    ['api-1', 'api-2'],
  );
  // The check ids came along as etcd keys: another instance cannot take one.
  const taken = await node.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: {
      id: 'other',
      name: 'api',
      address: '10.0.0.9',
      port: 1,
      checks: [{ id: 'api-1-ttl', type: 'ttl', ttl: '30s' }],
    },
  });
  t.equal(taken.statusCode, 409);
  t.equal(json<{ error: { code: string } }>(taken).error.code, 'check_id_taken');
});

t.test('import refuses a non-empty etcd catalog unless told to replace it', async (t) => {
  const etcd = await startEtcd(t, 1);
  const prefix = uniquePrefix();
  const store = openEtcdStore(t, etcd.endpoints, prefix);
  const dir = tempDir(t);
  const file = join(dir, 'catalog.json');
  const write = (ids: string[], configs: string[] = []) =>
    writeFileSync(
      file,
      JSON.stringify({
        format: 'konsul-catalog/1',
        source: 'test',
        exportedAt: new Date(0).toISOString(),
        index: 1,
        instances: ids.map((id) => instance(id)),
        serviceConfigs: configs.map((name) => ({ name, config: { limit: 1 } })),
      }),
    );
  const args = ['--etcd', etcd.endpoints[0], '--prefix', prefix, '--in', file];
  const keys = async () => (await store.client.getAll().prefix(`${prefix}instances`).keys()).sort();

  write([], ['web']);
  t.equal((await runScript(IMPORT, args)).code, 0);
  write(['c']);
  const refusedForConfig = await runScript(IMPORT, args);
  t.equal(refusedForConfig.code, 1, 'a service config alone is a catalog already there');
  t.same(await keys(), [`${prefix}instances-config/web`]);
  t.equal((await runScript(IMPORT, [...args, '--replace'])).code, 0);

  write(['a', 'b'], ['api']);
  t.equal((await runScript(IMPORT, [...args, '--replace'])).code, 0);
  write(['c']);
  const refused = await runScript(IMPORT, args);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /already holds a catalog .*--replace/);
  t.same(
    await keys(),
    [`${prefix}instances-config/api`, `${prefix}instances/a`, `${prefix}instances/b`],
    'nothing changed',
  );

  const replaced = await runScript(IMPORT, [...args, '--replace']);
  t.equal(replaced.code, 0, replaced.stderr);
  t.match(replaced.stderr, /replaced 3 keys/);
  t.same(await keys(), [`${prefix}instances/c`], 'the old catalog and its configs are gone, the file’s is there');
});

t.test('a file that is not a Konsul catalog is refused before anything is written', async (t) => {
  const base = {
    format: 'konsul-catalog/1',
    source: 'test',
    exportedAt: 'x',
    index: 0,
  };
  const check = (id: string, instanceId: string) => ({
    id,
    name: id,
    type: 'ttl',
    ttl: '10s',
    instanceId,
    status: 'passing',
    note: '',
    statusChangedAt: 0,
    successBeforePassing: 1,
    failuresBeforeCritical: 1,
  });
  const parse = (value: unknown) => () => parseCatalogFile(JSON.stringify(value));
  t.throws(() => parseCatalogFile('{'), TransferError);
  t.throws(parse({ ...base, format: 'other' }), /not a konsul-catalog\/1 file/);
  t.throws(parse({ ...base, instances: [instance('a', []), instance('a', [])] }), /instance id a appears twice/);
  t.throws(
    parse({ ...base, instances: [instance('a', [check('c', 'a')]), instance('b', [check('c', 'b')])] }),
    /check id c appears twice/,
  );
  t.throws(parse({ ...base, instances: [instance('a', [check('c', 'b')])] }), /listed under a but names b/);
  t.throws(parse({ ...base, instances: [instance('a', [{ ...check('c', 'a'), status: 'fine' }])] }), /not a konsul/);
  const config = (name: string, limit = 1) => ({ name, config: { limit } });
  t.throws(
    parse({ ...base, instances: [], serviceConfigs: [config('web'), config('web', 2)] }),
    /service config web appears twice/,
  );
  t.throws(
    parse({ ...base, instances: [], serviceConfigs: [config('Web')] }),
    /service config Web is not in lower case/,
  );
  t.throws(
    parse({ ...base, instances: [], serviceConfigs: [{ name: 'web', config: { lb: 'x', retries: 3 } }] }),
    /not a konsul/,
  );
  t.ok(parseCatalogFile(JSON.stringify({ ...base, instances: [], serviceConfigs: [config('web')] })));
  t.ok(parseCatalogFile(JSON.stringify({ ...base, instances: [instance('a', [check('c', 'a')])] })));
});

/** An instance as a catalog file lists it. */
function instance(id: string, checks: unknown[] = []) {
  return {
    id,
    name: 'web',
    address: '10.0.0.1',
    port: 80,
    tags: [],
    meta: {},
    weight: 1,
    region: null,
    zone: null,
    status: 'passing',
    checks,
    createIndex: 1,
    modifyIndex: 1,
  };
}

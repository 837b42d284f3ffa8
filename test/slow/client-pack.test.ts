/**
 * The standalone konsul-client package, as a user gets it: packed by `npm run pack:client`,
 * installed into an empty project with `npm install --offline` and an empty npm cache (so it
 * must need nothing from a registry), type-checked as a user's TypeScript would, and run
 * against a real Konsul and a real HTTP target.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { packClient } from '../../scripts/pack-client.js';
import { tempDir } from '../helpers/catalog.js';
import { konsulUrl, startTargets } from '../helpers/client-fixtures.js';
import { startTestKonsul } from '../helpers/konsul.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));

const APP = `
import { Konsul, KonsulClientError } from 'konsul-client';
const [url, port] = process.argv.slice(2);
const konsul = new Konsul({ urls: [url], handleSignals: false });
const me = await konsul.register({ name: 'packed-app', address: '127.0.0.1', port: Number(port) }, { ttl: '10s' });
const payments = konsul.balancer('payments', { strategy: 'maglev' });
const answers = [];
for (let i = 0; i < 3; i++) answers.push(await (await payments.fetch('/', { sessionKey: 'user-1' })).text());
let refused = '';
try { konsul.balancer('payments', { strategy: 'nope' }); } catch (error) { refused = error instanceof KonsulClientError ? error.code : 'other'; }
const registered = (await fetch(url + '/catalog/instances/' + me.id)).status;
await konsul.close();
const afterClose = (await fetch(url + '/catalog/instances/' + me.id)).status;
console.log(JSON.stringify({ answers, refused, registered, afterClose }));
`;

const TYPED = `
import { Konsul, type BalancerStats, type KonsulOptions } from 'konsul-client';
const options: KonsulOptions = { urls: ['http://127.0.0.1:8888'] };
const konsul = new Konsul(options);
const balancer = konsul.balancer('payments', { strategy: 'p2c', retryBudget: { ratio: 0.1 } });
const stats: BalancerStats = balancer.stats();
const response: Response = await balancer.fetch('/x', { method: 'GET', sessionKey: 'k' });
export const seen: [number, number] = [stats.requests, response.status];
await konsul.close();
`;

t.test('npm run pack:client makes a package that installs offline and works against a real Konsul', async (t) => {
  const out = tempDir(t);
  const packed = await packClient(out);
  t.same(
    packed.files.filter((file) => !file.startsWith('types/')),
    ['README.md', 'dist/index.js', 'package.json'],
    'one module, its manifest and its README',
  );
  t.ok(packed.files.includes('types/client/index.d.ts'), 'with its types');
  t.notOk(
    packed.files.some((file) => /types\/(http|dns|config|health|cluster)\//.test(file)),
    'no server types',
  );

  const app = tempDir(t);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // An empty cache and --offline: anything the package needed from a registry would fail the install.
  await run(
    'npm',
    ['install', '--offline', '--no-audit', '--no-fund', '--cache', join(app, '.npm-cache'), packed.tarball],
    {
      cwd: app,
    },
  );
  t.same(
    readdirSync(join(app, 'node_modules')).filter((name) => !name.startsWith('.')),
    ['konsul-client'],
    'nothing else installed',
  );
  const manifest = JSON.parse(
    readFileSync(join(app, 'node_modules', 'konsul-client', 'package.json'), 'utf8'),
  ) as Record<string, unknown>;
  t.equal(manifest.dependencies, undefined, 'no dependencies');
  const bundle = readFileSync(join(app, 'node_modules', 'konsul-client', 'dist', 'index.js'), 'utf8');
  for (const server of ['fastify', 'better-sqlite3', 'node:dgram', 'node:net', 'prom-client', 'pino'])
    t.notOk(
      bundle.includes(`from "${server}"`) || bundle.includes(`from '${server}'`),
      `the bundle imports no ${server}`,
    );

  writeFileSync(join(app, 'typed.ts'), TYPED);
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        exactOptionalPropertyTypes: true,
        skipLibCheck: false,
        noEmit: true,
        lib: ['ES2023'],
        typeRoots: [join(REPO, 'node_modules', '@types')],
        types: ['node'],
      },
      files: ['typed.ts'],
    }),
  );
  await t.resolves(
    run(join(REPO, 'node_modules', '.bin', 'tsc'), ['-p', app], { cwd: app }),
    'its types check in a strict user project',
  );

  const server = await startTestKonsul(t);
  const targets = await startTargets(t, server, 'payments', 2);
  writeFileSync(join(app, 'app.mjs'), APP);
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const { stdout } = await run(
    process.execPath,
    ['app.mjs', konsulUrl(server), String(targets.byId.get('payments-1')!.port)],
    {
      cwd: app,
      env,
    },
  );
  const result = JSON.parse(stdout) as { answers: string[]; refused: string; registered: number; afterClose: number };
  t.equal(new Set(result.answers).size, 1, 'one session key, one instance');
  t.ok(['payments-1', 'payments-2'].includes(result.answers[0]));
  t.equal(result.refused, 'invalid_option');
  t.equal(result.registered, 200);
  t.equal(result.afterClose, 404);
});

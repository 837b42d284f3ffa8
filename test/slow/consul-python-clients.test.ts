import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startTestKonsul } from '../helpers/konsul.js';

/**
 * Konsul driven by the two Python Consul clients Debian packages, unmodified: python3-consul
 * (python-consul 0.7) and python3-consul2. Both send lower-case keys (`{"name": ..., "check":
 * {"ttl": "10s"}}`), which Consul matches regardless of case. The scenario is in
 * fixtures/python-consul-client.py; this test runs it against a real listening Konsul.
 *
 * The two packages install the same module (`consul`) and conflict, so CI (.ci/run) installs
 * python3-consul and unpacks python3-consul2 privately (`apt-get download` + `dpkg -x`) into
 * .ci/deb/python3-consul2, or where KONSUL_TEST_PYTHON3_CONSUL2 points. Debian's packages
 * install for Debian's interpreter, so the scenario runs under /usr/bin/python3, not whichever
 * python3 comes first on PATH.
 */

const PYTHON = '/usr/bin/python3';
const SCENARIO = fileURLToPath(new URL('../fixtures/python-consul-client.py', import.meta.url));
const CONSUL2_ROOT =
  process.env.KONSUL_TEST_PYTHON3_CONSUL2 ?? fileURLToPath(new URL('../../.ci/deb/python3-consul2', import.meta.url));
const DIST_PACKAGES = 'usr/lib/python3/dist-packages';
/** The scenario waits on blocking queries and an HTTP check; it needs a few seconds, never this many. */
const SCENARIO_TIMEOUT_MS = 60_000;

interface Client {
  name: string;
  install: string;
  /** Prepended to PYTHONPATH; undefined for the system-wide package. */
  path?: string;
  /** Where the module must load from, so one client is never tested twice in place of the other. */
  moduleUnder: string;
  version: RegExp;
}

const clients: Client[] = [
  {
    name: 'python3-consul',
    install: 'apt-get install python3-consul',
    moduleUnder: `/${DIST_PACKAGES}/consul/`,
    version: /^0\.7\./,
  },
  {
    name: 'python3-consul2',
    install: `apt-get download python3-consul2 && dpkg -x python3-consul2_*.deb ${CONSUL2_ROOT} (it conflicts with python3-consul, so it is unpacked privately; .ci/run does this)`,
    path: `${CONSUL2_ROOT}/${DIST_PACKAGES}`,
    moduleUnder: `${CONSUL2_ROOT}/${DIST_PACKAGES}/consul/`,
    version: /^0\.1\./,
  },
];

function runScenario(
  t: { teardown(fn: () => unknown): void },
  client: Client,
  port: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCENARIO, '127.0.0.1', String(port)], {
      env: {
        ...process.env,
        ...(client.path === undefined ? {} : { PYTHONPATH: client.path }),
        PYTHONDONTWRITEBYTECODE: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), SCENARIO_TIMEOUT_MS);
    t.teardown(() => {
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

for (const client of clients) {
  t.test(`${client.name} registers, passes TTL checks, queries, blocks and deregisters unmodified`, async (t) => {
    if (!existsSync(PYTHON)) {
      t.fail(`${PYTHON} is missing: install python3 and ${client.name} (${client.install})`);
      return;
    }
    if (client.path !== undefined && !existsSync(client.path)) {
      t.fail(`${client.name} is not unpacked at ${CONSUL2_ROOT}: ${client.install}`);
      return;
    }
    const server = await startTestKonsul(t);
    const { code, stdout, stderr } = await runScenario(t, client, server.httpPort);
    const lines = stdout.split('\n').filter((line) => line !== '');
    if (/ModuleNotFoundError: No module named 'consul'/.test(stderr)) {
      t.fail(`${client.name} is not installed: ${client.install}`);
      return;
    }
    t.equal(code, 0, `the scenario ran to its end\n${stdout}\n${stderr}`);
    const loaded = JSON.parse(lines[0] ?? '{}') as { module?: string; version?: string };
    t.ok(loaded.module?.includes(client.moduleUnder), `the module is ${client.name}'s (${loaded.module})`);
    t.match(loaded.version, client.version, `${client.name} version`);
    t.same(
      lines.slice(1),
      [
        'ok register with a TTL check',
        'ok a new TTL check is critical, as in Consul',
        'ok blocking query with index= returns after the TTL pass, with a higher index',
        'ok health.service(passing=True) lists the passing instance',
        'ok register with an HTTP check',
        'ok catalog.services lists both services with their tags',
        'ok catalog.service with a tag filters by it',
        'ok the HTTP check passes and health.service(passing=True) lists it',
        'ok deregister removes both',
        'done',
      ],
      'every step passed',
    );
  });
}

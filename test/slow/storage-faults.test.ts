/**
 * The data file under real faults, with the real command in child processes: a second Konsul
 * on the same file, a file-size limit that makes every commit fail (lifted again with prlimit
 * while the server runs), and a real full filesystem (a small tmpfs, where the machine lets
 * us mount one) at start-up.
 */
import { spawn, execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { tempDir } from '../helpers/catalog.js';
import { bundleKonsulCommand, httpCall, startKonsulChild } from '../helpers/fault-targets.js';
import { startHttpTarget } from '../helpers/health-targets.js';

let bundled: Promise<readonly string[]> | undefined;
// Several whole-process starts each; a busy 2-core machine can pass tap's default 120 s.
t.setTimeout(300_000);

const konsulCommand = () => (bundled ??= bundleKonsulCommand(t));

/** Runs the command to its exit; for starts that must fail. */
async function runToExit(
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string[]; stdout: string[] }> {
  const argv = await konsulCommand();
  const child = spawn(process.execPath, [...argv], {
    env: { ...process.env, NODE_OPTIONS: '', KONSUL_PORT: '0', KONSUL_DNS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  const stdout: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  createInterface({ input: child.stdout }).on('line', (line) => stdout.push(line));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', (exit) => resolve(exit)));
  clearTimeout(killer);
  return { code, stderr, stdout };
}

function sample(exposition: string, series: string): number | undefined {
  const line = exposition.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

t.test('a second Konsul on a data file the first has only read refuses at start with one line', async (t) => {
  const dataDir = tempDir(t);
  // The first start creates and migrates the file; the second start of that server finds it up
  // to date and writes nothing, which is when the lock used to be left untaken.
  const creator = await startKonsulChild(t, { KONSUL_DATA_DIR: dataDir }, { argv: await konsulCommand() });
  creator.child.kill('SIGTERM');
  await creator.exited;
  const first = await startKonsulChild(t, { KONSUL_DATA_DIR: dataDir }, { argv: await konsulCommand() });

  const second = await runToExit({ KONSUL_DATA_DIR: dataDir });
  t.equal(second.code, 1, 'the second process exits non-zero');
  t.same(
    second.stderr,
    [`konsul: could not start: the data file ${join(dataDir, 'konsul.db')} is in use by another Konsul process`],
    'with one line naming the file',
  );

  const write = await httpCall(first.port, 'PUT', '/catalog/register', { name: 'web', address: '10.0.0.1', port: 80 });
  t.equal(write.status, 200, 'the first keeps writing');
  first.child.kill('SIGTERM');
  t.match(await first.exited, { code: 0 });
});

t.test(
  'when commits fail, checks still move the live view; readiness and metrics say storage is failing; it all catches up when writes work again',
  async (t) => {
    const dataDir = tempDir(t);
    const configFile = join(dataDir, 'konsul.test.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        storage: { retryInterval: '100ms' },
        health: { minInterval: '100ms', minTimeout: '50ms' },
      }),
    );
    const target = await startHttpTarget(t, { kind: 'status', status: 200, body: 'ok' });
    // 400 KiB: start-up and some registrations fit; then every commit fails with EFBIG.
    const server = await startKonsulChild(
      t,
      { KONSUL_DATA_DIR: dataDir, KONSUL_CONFIG: configFile },
      { argv: await konsulCommand(), fileSizeLimitKb: 400 },
    );
    const port = server.port;
    const watched = await httpCall(port, 'PUT', '/catalog/register', {
      id: 'watched',
      name: 'watched',
      address: '127.0.0.1',
      port: target.port,
      checks: [{ id: 'watched-http', type: 'http', http: target.url, interval: '200ms', timeout: '100ms' }],
    });
    t.equal(watched.status, 200);
    const statusOf = async () => {
      const answer = await httpCall(port, 'GET', '/catalog/services/watched?health-filter=false');
      return (JSON.parse(answer.body) as { status: string }[])[0]?.status;
    };
    await until('the check passes', async () => ((await statusOf()) === 'passing' ? true : undefined));

    const acknowledged: string[] = ['watched'];
    for (let n = 0, refused = 0; refused < 5 && n < 2000; n++) {
      const answer = await httpCall(port, 'PUT', '/catalog/register', {
        id: `fill-${n}`,
        name: 'fill',
        address: '10.2.0.1',
        port: 1 + n,
        meta: { pad: 'p'.repeat(500) },
        tags: Array.from({ length: 8 }, (_, i) => `tag-${i}-${'t'.repeat(40)}`),
      });
      if (answer.status === 200) acknowledged.push(`fill-${n}`);
      else {
        t.equal(answer.status, 503, 'a write that cannot be stored is refused');
        refused++;
      }
    }
    // Even a small write is refused now: the limit is reached, not just near.
    const small = await until('a small write is refused too', async () => {
      const id = `small-${acknowledged.length}`;
      const answer = await httpCall(port, 'PUT', '/catalog/register', {
        id,
        name: 'fill',
        address: '10.2.0.2',
        port: 1,
      });
      if (answer.status === 200) acknowledged.push(id);
      return answer.status === 200 ? undefined : answer;
    });
    t.match(JSON.parse(small.body), { error: { code: 'storage_unavailable' } });

    target.behaviour = { kind: 'status', status: 500, body: 'down' };
    await until('the dead target shows as critical although nothing can be stored', async () =>
      (await statusOf()) === 'critical' ? true : undefined,
    );
    const health = await httpCall(port, 'GET', '/health/checks/watched');
    t.match(JSON.parse(health.body), [{ id: 'watched-http', status: 'critical' }], 'over every read path');

    const ready = await httpCall(port, 'GET', '/health/ready');
    t.equal(ready.status, 503, 'readiness says so');
    t.match(JSON.parse(ready.body), { error: { code: 'not_ready', message: /storage is failing/ } });
    t.notMatch(ready.body, dataDir, 'without telling clients where the file is');
    const failing = (await httpCall(port, 'GET', '/metrics')).body;
    t.equal(sample(failing, 'konsul_storage_healthy'), 0);
    t.ok(sample(failing, 'konsul_storage_failed_commits_total')! >= 5, 'failed commits are counted');
    t.equal(sample(failing, 'konsul_storage_unpersisted_checks'), 1, 'one check result waits to be stored');
    t.ok(
      server.lines.some((line) => line.includes('storage is failing')),
      'the first failure is logged',
    );

    // The disk has room again: the retry stores the waiting result without any new write.
    execFileSync('prlimit', ['--pid', String(server.child.pid), '--fsize=unlimited:']);
    await until('readiness recovers', async () =>
      (await httpCall(port, 'GET', '/health/ready')).status === 200 ? true : undefined,
    );
    const recovered = (await httpCall(port, 'GET', '/metrics')).body;
    t.equal(sample(recovered, 'konsul_storage_healthy'), 1);
    t.equal(sample(recovered, 'konsul_storage_unpersisted_checks'), 0);
    server.child.kill('SIGTERM');
    t.match(await server.exited, { code: 0 });

    // With checks off, what the restart shows is what was stored.
    writeFileSync(configFile, JSON.stringify({ health: { enabled: false } }));
    const restarted = await startKonsulChild(
      t,
      { KONSUL_DATA_DIR: dataDir, KONSUL_CONFIG: configFile },
      { argv: await konsulCommand() },
    );
    const stored = await httpCall(restarted.port, 'GET', '/catalog/services/watched?health-filter=false');
    t.match(JSON.parse(stored.body), [{ id: 'watched', status: 'critical' }], 'the result was stored once it could be');
    const listed = new Set<string>();
    for (const service of ['watched', 'fill']) {
      const answer = await httpCall(restarted.port, 'GET', `/catalog/services/${service}?health-filter=false`);
      for (const instance of JSON.parse(answer.body) as { id: string }[]) listed.add(instance.id);
    }
    t.same(
      acknowledged.filter((id) => !listed.has(id)),
      [],
      'every acknowledged registration survived',
    );
    restarted.child.kill('SIGTERM');
    await restarted.exited;
  },
);

/** A real full disk is a small tmpfs; mounting one needs CAP_SYS_ADMIN. */
function mountTmpfs(mountPoint: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const probeDir = mkdtempSync(join(tmpdir(), 'konsul-mount-probe-'));
const canMount = mountTmpfs(probeDir);
if (canMount) execFileSync('umount', [probeDir]);
rmSync(probeDir, { recursive: true });

t.test(
  'a start on a full disk fails with one line saying so and naming the file',
  { skip: canMount ? false : 'mounting a tmpfs needs CAP_SYS_ADMIN; the file-size-limit test above still runs' },
  async (t) => {
    const mountPoint = join(tempDir(t), 'small-disk');
    mkdirSync(mountPoint);
    t.ok(mountTmpfs(mountPoint), 'a 2 MiB tmpfs is mounted');
    t.teardown(() => execFileSync('umount', ['-l', mountPoint]));
    const first = await startKonsulChild(t, { KONSUL_DATA_DIR: mountPoint }, { argv: await konsulCommand() });
    const registered = await httpCall(first.port, 'PUT', '/catalog/register', {
      name: 'web',
      address: '10.0.0.1',
      port: 80,
    });
    t.equal(registered.status, 200);
    first.child.kill('SIGTERM');
    t.match(await first.exited, { code: 0 });

    // Fill the filesystem to the last block.
    const filler = openSync(join(mountPoint, 'filler'), 'w');
    const block = Buffer.alloc(4096, 1);
    try {
      for (;;) writeSync(filler, block);
    } catch (error) {
      t.equal((error as NodeJS.ErrnoException).code, 'ENOSPC', 'the disk is full');
    } finally {
      closeSync(filler);
    }

    const second = await runToExit({ KONSUL_DATA_DIR: mountPoint });
    t.equal(second.code, 1);
    t.equal(second.stderr.length, 1, `one line: ${second.stderr.join('\n')}`);
    t.equal(
      second.stderr[0].startsWith(`konsul: could not start: disk full: cannot write ${join(mountPoint, 'konsul.db')}`),
      true,
      second.stderr[0],
    );
  },
);

/**
 * Hostile churn: two rounds of 10,000 register → query → deregister cycles, each with a service
 * name never used before, against one Konsul process. Without a bound, every name ever seen kept
 * a row in the services table, an entry in memory and a konsul_lb_selections_total series, across
 * restarts. With catalog.serviceTombstoneTtl, all of that goes once the TTL has passed.
 *
 *   npx tsx bench/hostile-churn.ts
 *   BENCH_CYCLES=2000 BENCH_TOMBSTONE_TTL=5s npx tsx bench/hostile-churn.ts
 *
 * The sweep reaps during the churn too, so right after it the tombstones (and the series) left
 * are about cycles/s × TTL, and none once the TTL has passed. Without the TTL, the run
 * (#13) ended with 10,000 stale series and 10,009 rows, for good.
 *
 * Records, before and after each round's churn and reaping: RSS; the heap still in use after full
 * collections (bench/lib/heap-probe.ts in the server); the konsul_lb_* series labelled with a
 * churned name; konsul_catalog_tombstones; and the rows of the services table, read from the file
 * once the server has stopped (it holds the file's exclusive lock while running). The first round
 * also warms the server up (code, caches, pages); the second, with names the first never used, is
 * the one that shows whether memory grows with names: goal, its heap after reaping within
 * HEAP_GOAL_BYTES of the first round's.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { askChild } from './lib/child-ask.js';
import type { HeapProbeReply, HeapProbeRequest } from './lib/heap-probe.js';
import { megabytes, residentBytes } from './lib/proc.js';
import { freeTcpPort, ROOT } from './lib/processes.js';

const CYCLES = Number(process.env.BENCH_CYCLES ?? 10_000);
const TOMBSTONE_TTL = process.env.BENCH_TOMBSTONE_TTL ?? '10s';
const WORKERS = 8;
const ROUNDS = 2;
/** What a round of names never seen before may leave on the heap once reaped: 10,000 names' worth would be far more. */
const HEAP_GOAL_BYTES = 2 * 1024 * 1024;

interface Snapshot {
  rss: number | null;
  heapUsed: number;
  churnSeries: number;
  tombstones: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'konsul-churn-'));
  const port = await freeTcpPort();
  const configFile = join(dir, 'konsul.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      catalog: { serviceTombstoneTtl: TOMBSTONE_TTL },
      dns: { enabled: false },
      health: { enabled: false },
    }),
  );
  const heapProbe = join(ROOT, 'bench', 'lib', 'heap-probe.ts');
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', '--import', heapProbe, join(ROOT, 'src', 'main.ts')],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        KONSUL_CONFIG: configFile,
        KONSUL_PORT: String(port),
        KONSUL_DATA_DIR: join(dir, 'data'),
        KONSUL_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  );
  const liveHeap = (): Promise<number> =>
    askChild(
      child,
      { heapProbe: 'collect' } satisfies HeapProbeRequest,
      (message) => {
        const reply = message as Partial<HeapProbeReply> | null;
        return reply?.heapProbe === 'collected' ? reply.heapUsed : undefined;
      },
      'heap probe',
    );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.once('exit', () => child.kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await fetch(`${base}/health/ready`)).status === 200, 90_000);
    const take = async (): Promise<Snapshot> => ({ ...(await snapshot(base, child.pid!)), heapUsed: await liveHeap() });
    const before = await take();
    const rounds: { cyclesPerSecond: number; churned: Snapshot; reaped: Snapshot }[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const started = performance.now();
      let next = 0;
      const worker = async () => {
        while (next < CYCLES) {
          const name = `churn-${round}-${next++}`;
          await call(base, 'PUT', '/catalog/register', { id: name, name, address: '10.9.0.1', port: 80 });
          await call(base, 'GET', `/catalog/services/${name}`);
          await call(base, 'DELETE', `/catalog/instances/${name}`);
        }
      };
      await Promise.all(Array.from({ length: WORKERS }, worker));
      const cyclesPerSecond = CYCLES / ((performance.now() - started) / 1000);
      const churned = await take();
      // The sweep runs every min(TTL, 30 s); wait for it to empty the tombstones.
      await waitFor(async () => (await snapshot(base, child.pid!)).tombstones === 0, 120_000);
      rounds.push({ cyclesPerSecond, churned, reaped: await take() });
    }

    child.kill('SIGTERM');
    await exited;
    const db = new Database(join(dir, 'data', 'konsul.db'), { readonly: true });
    const rows = (db.prepare('SELECT COUNT(*) AS n FROM services').get() as { n: number }).n;
    db.close();

    const line = (label: string, s: Snapshot) =>
      `| ${label} | ${megabytes(s.rss)} | ${megabytes(s.heapUsed)} | ${s.churnSeries} | ${s.tombstones} |`;
    const grown = rounds[ROUNDS - 1].reaped.heapUsed - rounds[0].reaped.heapUsed;
    process.stdout.write(
      [
        `## Hostile churn: ${ROUNDS} rounds of ${CYCLES} unique-name register → query → deregister cycles`,
        '',
        `${WORKERS} concurrent clients, ${rounds.map((r) => r.cyclesPerSecond.toFixed(0)).join(' and ')} cycles/s; catalog.serviceTombstoneTtl ${TOMBSTONE_TTL}. ` +
          'Heap: in use after full collections in the server.',
        '',
        '| moment | RSS | heap | konsul_lb_* series of churned names | konsul_catalog_tombstones |',
        '| --- | --- | --- | --- | --- |',
        line('before', before),
        ...rounds.flatMap((r, i) => [
          line(`round ${i + 1}: after the churn`, r.churned),
          line(`round ${i + 1}: after the TTL (reaped)`, r.reaped),
        ]),
        '',
        `Rows left in the services table after stopping: ${rows}.`,
        '',
        `Heap after round ${ROUNDS}'s reaping, against round 1's: ${grown >= 0 ? '+' : ''}${(grown / 1024).toFixed(0)} KB ` +
          `(goal: within ${HEAP_GOAL_BYTES / 1024 / 1024} MB for ${CYCLES} names never seen before) — ${Math.abs(grown) <= HEAP_GOAL_BYTES ? 'met' : 'NOT met'}`,
        '',
      ].join('\n'),
    );
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<void> {
  const response = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`${method} ${path} answered ${response.status}`);
}

/** What /metrics and /proc tell; the live heap needs the probe (liveHeap). */
async function snapshot(base: string, pid: number): Promise<Omit<Snapshot, 'heapUsed'>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const lines = text.split('\n');
  const tombstones = lines.find((candidate) => candidate.startsWith('konsul_catalog_tombstones '));
  return {
    rss: residentBytes(pid),
    churnSeries: lines.filter((candidate) => /^konsul_lb_\w+\{[^}]*service="churn-/.test(candidate)).length,
    tombstones: tombstones === undefined ? -1 : Number(tombstones.split(' ')[1]),
  };
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await condition()) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

await main();

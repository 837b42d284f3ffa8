/**
 * Cluster mode (docs/cluster.md): three etcd members (Debian's etcd 3.4, the flags docs/cluster.md
 * recommends, production heartbeat and election timeouts) and three Konsul nodes on loopback,
 * each in its own process, all started here. In one run, each figure against a baseline measured
 * in the same run:
 *
 * - registrations/s through one node, and spread over three, against etcd's own put throughput
 *   (single puts of a registration-sized value from an etcd3 client in this process, as many in
 *   flight as the registrations have connections);
 * - catalog query throughput on a cluster node against a SQLite-mode node (reads come from memory
 *   on both), alternating rounds, medians;
 * - time from the acknowledgement of a registration on node A until BENCH_CLUSTER_WATCHERS (1,000)
 *   blocking queries held on node B are all answered;
 * - seconds without an acknowledged registration after the etcd leader is SIGKILLed during a
 *   registration storm (last, as it leaves etcd with two members).
 *
 *   npx tsx bench/cluster.ts                            (npm run bench:cluster)
 *   BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_CLUSTER_WATCHERS=1000 npx tsx bench/cluster.ts
 *
 * Goals (issue #11): ≥ 2,000 registrations/s; query throughput ≥ 0.95 of SQLite mode; every
 * watcher on B answered within 100 ms of the acknowledgement on A.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../scripts/etcd-members.js';
import { registerService } from './lib/catalog-setup.js';
import { scrapeMetrics, send, sendOk } from './lib/http-client.js';
import { failures, interleaved, runLoad, type LoadResult } from './lib/load.js';
import { writeSection } from './lib/kept-section.js';
import { machineLine } from './lib/machine.js';
import { ROOT, startKonsul, type KonsulProcess } from './lib/processes.js';
import { step } from './lib/progress.js';
import { RawConnection } from './lib/raw-connection.js';
import { fmt, goalTable, isMain, renderSection, type Section } from './lib/report.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const WATCHERS = Number(process.env.BENCH_CLUSTER_WATCHERS ?? 1000);
const CONNECTIONS = 48;
const SERVICES = 100;
const REGISTRATION_GOAL = 2000;
const QUERY_GOAL = 0.95;
const WAKE_GOAL_MS = 100;
const PREFIX = '/konsul/';

let runs = 0;

/** PUTs registrations with ids never used before (the run number keeps runs apart). */
function loadRegistrations(node: KonsulProcess, seconds: number, connections: number): Promise<LoadResult> {
  const run = runs++;
  let counter = 0;
  return runLoad({
    url: `${node.url}/catalog/register`,
    seconds,
    connections,
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    setupRequest: (request) => {
      const i = counter++;
      const body = `{"id":"reg-${run}-${i}","name":"reg-${i % SERVICES}","address":"10.${run & 255}.${(i >> 8) & 255}.${i & 255}","port":${1024 + (i % 60000)}}`;
      return { ...request, method: 'PUT', path: '/catalog/register', body };
    },
  });
}

/** etcd's own figure: single puts of a value the size of a stored registration, `inFlight` at a time. */
async function etcdPuts(client: Etcd3, seconds: number, inFlight: number): Promise<number> {
  const value = Buffer.from(
    JSON.stringify({
      v: 1,
      id: 'reg-0-000000',
      name: 'reg-00',
      address: '10.0.0.0',
      port: 1024,
      tags: [],
      meta: {},
      weight: 1,
      region: null,
      zone: null,
      checks: [],
    }),
  );
  const run = runs++;
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const worker = async (w: number) => {
    for (let n = 0; performance.now() < deadline; n++) {
      await client.kv.put({ key: Buffer.from(`/etcd-baseline/${run}/${w}/${n}`), value });
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
  return done / ((performance.now() - started) / 1000);
}

/**
 * CPU seconds a process has used (user + system, every thread), from /proc/<pid>/stat; in clock
 * ticks of 1/100 s (USER_HZ, 100 on Linux). 0 when unreadable (not Linux, or gone).
 */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

const TXN_METRIC = 'konsul_etcd_requests_total{kind="txn",result="ok"}';

/** Where the CPU of a registration run goes, by kind of process, and how many transactions carried it. */
interface CpuTally {
  etcd: number;
  konsul: number;
  generator: number;
  transactions: number;
}

async function tally(etcdPids: readonly number[], nodes: readonly KonsulProcess[]): Promise<CpuTally> {
  const generator = process.cpuUsage();
  let transactions = 0;
  for (const node of nodes) transactions += (await scrapeMetrics(node.url, [TXN_METRIC]))[TXN_METRIC] ?? 0;
  return {
    etcd: etcdPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    konsul: nodes.reduce((sum, node) => sum + cpuSeconds(node.pid), 0),
    generator: (generator.user + generator.system) / 1e6,
    transactions,
  };
}

/** Runs `load` and returns its result with the CPU each kind of process spent and the transactions it took. */
async function measured<T>(
  etcdPids: readonly number[],
  nodes: readonly KonsulProcess[],
  load: () => Promise<T>,
): Promise<{ result: T; used: CpuTally }> {
  const before = await tally(etcdPids, nodes);
  const result = await load();
  const after = await tally(etcdPids, nodes);
  return {
    result,
    used: {
      etcd: after.etcd - before.etcd,
      konsul: after.konsul - before.konsul,
      generator: after.generator - before.generator,
      transactions: after.transactions - before.transactions,
    },
  };
}

function sumTallies(tallies: readonly CpuTally[]): CpuTally {
  return tallies.reduce(
    (sum, used) => ({
      etcd: sum.etcd + used.etcd,
      konsul: sum.konsul + used.konsul,
      generator: sum.generator + used.generator,
      transactions: sum.transactions + used.transactions,
    }),
    { etcd: 0, konsul: 0, generator: 0, transactions: 0 },
  );
}

/** "etcd 0.45, Konsul 0.61, load generator 0.11 ms CPU per registration; 23.4 registrations per transaction" */
function perRegistration(used: CpuTally, registrations: number): string {
  const ms = (seconds: number) => ((seconds * 1000) / Math.max(registrations, 1)).toFixed(2);
  const total = used.etcd + used.konsul + used.generator;
  return (
    `etcd ${ms(used.etcd)}, Konsul ${ms(used.konsul)}, load generator ${ms(used.generator)} ` +
    `(${ms(total)} in all: 2 cores allow at most ${fmt.int((2 * registrations) / Math.max(total, 1e-9))}/s) ms CPU per registration; ` +
    `${(registrations / Math.max(used.transactions, 1)).toFixed(1)} registrations per etcd transaction`
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function waitForHeld(node: KonsulProcess, count: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  let held = 0;
  while (Date.now() < deadline) {
    held = (await scrapeMetrics(node.url, ['konsul_blocking_queries'])).konsul_blocking_queries ?? 0;
    if (held >= count) return;
    await new Promise((resolveDelay) => setTimeout(resolveDelay, 50));
  }
  throw new Error(`only ${held} of ${count} blocking queries were held on B after 60 s`);
}

/** Blocking queries on B, one registration on A: ms from A's acknowledgement until B answered them all. */
async function wakeUp(a: KonsulProcess, b: KonsulProcess, connections: RawConnection[], round: number) {
  const index = Number((await sendOk(`${b.url}/catalog/services/watched`)).headers['x-konsul-index']);
  const answers = connections.map((connection) =>
    connection.get(`/catalog/services/watched?index=${index}&wait=5m`).then(
      (answer) => ({ ok: answer.status === 200, at: answer.at }),
      () => ({ ok: false, at: performance.now() }),
    ),
  );
  await waitForHeld(b, connections.length);
  const sent = performance.now();
  await sendOk(`${a.url}/catalog/register`, {
    method: 'PUT',
    json: { id: `watched-${round}`, name: 'watched', address: '10.9.9.9', port: 9000 + round },
  });
  const acked = performance.now();
  const results = await Promise.all(answers);
  const last = Math.max(...results.map((result) => result.at));
  return {
    afterAckMs: last - acked,
    ackMs: acked - sent,
    failed: results.filter((result) => !result.ok).length,
  };
}

/**
 * Registrations from `workers` loops on one node; the leader is killed once the storm runs.
 * Returns the seconds from the kill until a registration sent after it was acknowledged, and
 * the longest time without any acknowledgement around the kill.
 */
async function leaderKill(etcd: EtcdCluster, node: KonsulProcess, workers: number) {
  const acks: number[] = [];
  let refused = 0;
  let killedAt = Infinity;
  let firstAfterKill = Infinity;
  let stop = false;
  const loop = async (w: number) => {
    for (let n = 0; !stop; n++) {
      const sentAt = performance.now();
      try {
        const answer = await send(`${node.url}/catalog/register`, {
          method: 'PUT',
          json: { id: `storm-${w}-${n}`, name: 'storm', address: '10.8.0.1', port: 1 + (n % 60000) },
          timeoutMs: 15_000,
        });
        if (answer.status === 200) {
          const at = performance.now();
          acks.push(at);
          if (sentAt > killedAt && at < firstAfterKill) firstAfterKill = at;
        } else {
          refused++;
        }
      } catch {
        refused++;
      }
    }
  };
  const loops = Array.from({ length: workers }, (_, w) => loop(w));
  await new Promise((resolveDelay) => setTimeout(resolveDelay, 2000));
  const leader = await etcd.leader();
  if (leader < 0) throw new Error('no etcd leader to kill');
  killedAt = performance.now();
  etcd.kill(leader, 'SIGKILL');
  const deadline = Date.now() + 30_000;
  while (firstAfterKill === Infinity && Date.now() < deadline)
    await new Promise((resolveDelay) => setTimeout(resolveDelay, 50));
  await new Promise((resolveDelay) => setTimeout(resolveDelay, 1000));
  stop = true;
  await Promise.all(loops);
  acks.sort((x, y) => x - y);
  let longestGap = 0;
  for (let i = 1; i < acks.length; i++)
    if (acks[i] > killedAt - 5000) longestGap = Math.max(longestGap, acks[i] - acks[i - 1]);
  return {
    untilWriteS: (firstAfterKill - killedAt) / 1000,
    longestGapS: longestGap / 1000,
    refused,
    acks: acks.length,
  };
}

export async function run(): Promise<Section> {
  const baseDir = mkdtempSync(join(tmpdir(), 'konsul-bench-cluster-'));
  const nodes: KonsulProcess[] = [];
  let sqlite: KonsulProcess | undefined;
  let etcd: EtcdCluster | undefined;
  let client: Etcd3 | undefined;
  const connections: RawConnection[] = [];
  try {
    step('cluster: starting three etcd members, three Konsul nodes over them and one SQLite-mode Konsul');
    etcd = await EtcdCluster.start({ size: 3, baseDir });
    const endpoints = etcd.endpoints;
    client = new Etcd3({ hosts: endpoints });
    for (const name of ['k1', 'k2', 'k3'])
      nodes.push(
        await startKonsul(name, {
          config: { store: { type: 'etcd', nodeName: name, etcd: { endpoints, prefix: PREFIX } } },
        }),
      );
    sqlite = await startKonsul('sqlite');
    const [a, b] = nodes;

    step(
      'cluster: registering web (10 instances) on both modes; query rounds first, while both catalogs hold the same',
    );
    await registerService(a.url, 'web', 10);
    await registerService(sqlite.url, 'web', 10);
    const query =
      (node: KonsulProcess, seconds = SECONDS) =>
      () =>
        runLoad({ url: `${node.url}/catalog/services/web`, seconds, connections: 50 });
    const target = b;
    const listed = async () =>
      (JSON.parse((await sendOk(`${target.url}/catalog/services/web`)).body.toString()) as unknown[]).length;
    while ((await listed()) < 10) await new Promise((resolveDelay) => setTimeout(resolveDelay, 50));
    await query(b, 2)();
    await query(sqlite, 2)();
    const [clusterQuery, sqliteQuery] = await interleaved([query(b), query(sqlite)], ROUNDS, (i, round, result) =>
      step(`cluster:   round ${round + 1} ${i === 0 ? 'cluster node' : 'sqlite node'}: ${fmt.int(result.rps)}/s`),
    );

    step('cluster: warm-up, 2 s each of etcd puts and registrations on one node');
    await etcdPuts(client, 2, CONNECTIONS);
    await loadRegistrations(a, 2, CONNECTIONS);

    const puts: number[] = [];
    const one: LoadResult[] = [];
    const spread: number[] = [];
    const spreadFailures: string[] = [];
    const etcdPids = etcd.members.flatMap((member) => (member.child?.pid === undefined ? [] : [member.child.pid]));
    const oneCpu: CpuTally[] = [];
    const spreadCpu: CpuTally[] = [];
    let oneRegistrations = 0;
    let spreadRegistrations = 0;
    step(`cluster: ${ROUNDS} alternating rounds of ${SECONDS} s: etcd puts, one node, three nodes`);
    for (let round = 1; round <= ROUNDS; round++) {
      puts.push(await etcdPuts(client, SECONDS, CONNECTIONS));
      const { result: single, used: singleUsed } = await measured(etcdPids, nodes, () =>
        loadRegistrations(a, SECONDS, CONNECTIONS),
      );
      one.push(single);
      oneCpu.push(singleUsed);
      oneRegistrations += single.ok;
      const { result: parts, used: partsUsed } = await measured(etcdPids, nodes, () =>
        Promise.all(nodes.map((node) => loadRegistrations(node, SECONDS, CONNECTIONS / 3))),
      );
      spreadCpu.push(partsUsed);
      spreadRegistrations += parts.reduce((sum, part) => sum + part.ok, 0);
      spread.push(parts.reduce((sum, part) => sum + part.rps, 0));
      spreadFailures.push(...parts.map(failures).filter((text) => text !== ''));
      step(
        `cluster:   round ${round}: etcd ${fmt.int(puts.at(-1)!)} puts/s, one node ${fmt.int(single.rps)}/s (p99 ${fmt.ms(single.p99Ms)}), three nodes ${fmt.int(spread.at(-1)!)}/s`,
      );
    }
    const etcdRate = median(puts);
    const oneRate = median(one.map((result) => result.rps));
    const oneP99 = median(one.map((result) => result.p99Ms));
    const spreadRate = median(spread);

    step(`cluster: ${WATCHERS} blocking queries on B, one registration on A, ${ROUNDS} rounds`);
    for (let i = 0; i < WATCHERS; i += 250) {
      const batch = Array.from(
        { length: Math.min(250, WATCHERS - i) },
        () => new RawConnection('127.0.0.1', b.httpPort),
      );
      connections.push(...batch);
      await Promise.all(batch.map((connection) => connection.open()));
    }
    const wakes: { afterAckMs: number; ackMs: number; failed: number }[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const wake = await wakeUp(a, b, connections, round);
      wakes.push(wake);
      step(
        `cluster:   round ${round}: all ${WATCHERS} answered ${fmt.ms(wake.afterAckMs)} after A's acknowledgement (the registration itself took ${fmt.ms(wake.ackMs)}), failed ${wake.failed}`,
      );
    }
    for (const connection of connections) connection.close();
    connections.length = 0;
    const wakeMs = median(wakes.map((wake) => wake.afterAckMs));
    const ackMs = median(wakes.map((wake) => wake.ackMs));
    const wakeFailed = wakes.reduce((sum, wake) => sum + wake.failed, 0);

    step('cluster: registration storm on A (16 loops); SIGKILL of the etcd leader');
    const kill = await leaderKill(etcd, a, 16);
    step(
      `cluster:   a registration sent after the kill was acknowledged ${kill.untilWriteS.toFixed(2)} s after it; longest gap without any acknowledgement ${kill.longestGapS.toFixed(2)} s; ${kill.refused} refused or failed`,
    );

    const failed = [...one.map(failures).filter((text) => text !== ''), ...spreadFailures];
    return {
      title: CLUSTER_HEADING.slice(3),
      summary:
        'Three etcd 3.4 members (default heartbeat 100 ms and election timeout 1 s, `--pre-vote`) and three Konsul nodes with `store.type: etcd`, ' +
        'each its own process on loopback, plus one SQLite-mode Konsul for the query baseline. Registrations are sustained ' +
        `\`PUT /catalog/register\` with distinct ids (autocannon, ${CONNECTIONS} connections in all); etcd's own figure is single puts of a ` +
        `registration-sized value from an etcd3 client with as many in flight. ${ROUNDS} alternating rounds of ${SECONDS} s, medians.`,
      tables: [
        goalTable([
          {
            figure: 'registrations/s through one node',
            value: fmt.int(oneRate),
            baseline: `${fmt.int(etcdRate)} etcd puts/s`,
            ratio: fmt.percent(oneRate / etcdRate),
            goal: `≥ ${fmt.int(REGISTRATION_GOAL)}/s`,
            met: oneRate >= REGISTRATION_GOAL,
          },
          {
            figure: 'p99 registration, one node',
            value: fmt.ms(oneP99),
            baseline: '—',
            ratio: '—',
            goal: '—',
            met: null,
          },
          {
            figure: 'registrations/s spread over three nodes',
            value: fmt.int(spreadRate),
            baseline: `${fmt.int(etcdRate)} etcd puts/s`,
            ratio: fmt.percent(spreadRate / etcdRate),
            goal: `≥ ${fmt.int(REGISTRATION_GOAL)}/s`,
            met: spreadRate >= REGISTRATION_GOAL,
          },
          {
            figure: 'catalog queries/s on a cluster node (10 instances)',
            value: fmt.int(clusterQuery.rps),
            baseline: `${fmt.int(sqliteQuery.rps)} (SQLite mode)`,
            ratio: fmt.ratio(clusterQuery.rps / sqliteQuery.rps),
            goal: `≥ ${QUERY_GOAL}×`,
            met: clusterQuery.rps / sqliteQuery.rps >= QUERY_GOAL,
          },
          {
            figure: `${fmt.int(WATCHERS)} blocking queries on B answered, after the ack on A`,
            value: fmt.ms(wakeMs),
            baseline: `${fmt.ms(ackMs)} (the registration on A)`,
            ratio: fmt.ratio(wakeMs / ackMs),
            goal: `≤ ${WAKE_GOAL_MS} ms`,
            met: wakeMs <= WAKE_GOAL_MS && wakeFailed === 0,
          },
          {
            figure: 'etcd leader SIGKILLed: until a registration sent after it is acknowledged',
            value: `${kill.untilWriteS.toFixed(2)} s`,
            baseline: '1 s (election timeout)',
            ratio: fmt.ratio(kill.untilWriteS),
            goal: '—',
            met: null,
          },
          {
            figure: 'etcd leader SIGKILLed: longest time without any acknowledgement',
            value: `${kill.longestGapS.toFixed(2)} s`,
            baseline: '1 s (election timeout)',
            ratio: fmt.ratio(kill.longestGapS),
            goal: '—',
            met: null,
          },
        ]),
      ],
      command: 'npx tsx bench/cluster.ts',
      notes: [
        `Where the CPU of the registration rounds went (from /proc, every process of a kind, all rounds): ` +
          `one node: ${perRegistration(sumTallies(oneCpu), oneRegistrations)}; ` +
          `three nodes: ${perRegistration(sumTallies(spreadCpu), spreadRegistrations)}. ` +
          `Every node applies every registration from its watch either way; what three nodes add is transactions: ` +
          `each node sends one at a time, with a third of the connections, so each carries fewer registrations ` +
          `and its fixed cost (a Raft round and WAL sync on every etcd member, a watch message to every node) is shared by fewer.`,
        `Storm during the leader kill: 16 loops of registrations on one node; ${fmt.int(kill.acks)} acknowledged, ${kill.refused} refused or failed (503 \`storage_unavailable\` while etcd elects a leader).` +
          (failed.length === 0
            ? ''
            : ` Failed requests in the throughput rounds (not counted): ${failed.join('; ')}.`) +
          (wakeFailed > 0 ? ` **${wakeFailed} blocking queries failed.**` : ''),
      ],
    };
  } finally {
    for (const connection of connections) connection.close();
    client?.close();
    await Promise.all([...nodes, ...(sqlite === undefined ? [] : [sqlite])].map((node) => node.stop()));
    etcd?.stopAll();
    rmSync(baseDir, { recursive: true, force: true });
  }
}

export const CLUSTER_HEADING = '## Cluster mode (three etcd members, three Konsul nodes)';

if (isMain(import.meta.url)) {
  const machine = machineLine();
  const section = await run();
  const rendered = renderSection(section);
  console.log(rendered);
  // Not part of `npm run bench` (it starts an etcd cluster); its section is kept there as written here.
  writeSection(
    join(ROOT, 'docs', 'benchmarks.md'),
    CLUSTER_HEADING,
    `${rendered.slice(rendered.indexOf('\n') + 1).trim()}\n\nMeasured by \`npm run bench:cluster\` on ${new Date().toISOString().slice(0, 10)}, not by \`npm run bench\`, which keeps this section as it is. **Machine:** ${machine}.`,
    '## Soak',
  );
}

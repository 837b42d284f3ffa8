/**
 * Registration throughput: sustained `PUT /catalog/register` with distinct ids, each answer
 * given only once the write is durable, with the default `storage.synchronous: "full"` and with
 * `"normal"`; baseline: the bare Fastify PUT route (bench/bare-server.ts) that parses the same
 * JSON body and answers 200. The three servers run at once, each in its own process, and are
 * loaded in turn for BENCH_ROUNDS alternating rounds; each figure is the median of its rounds.
 *
 *   npx tsx bench/registration.ts                       (npm run bench:registration)
 *   BENCH_SECONDS=5 BENCH_ROUNDS=2 npx tsx bench/registration.ts
 *
 * Goal: ≥ 5,000 acknowledged registrations per second with synchronous "full".
 */
import { failures, interleaved, runLoad, type LoadResult } from './lib/load.js';
import { startBareServer, startKonsul, type ServerProcess } from './lib/processes.js';
import { step } from './lib/progress.js';
import { fmt, goalTable, isMain, renderSection, type Section } from './lib/report.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3) - 1);
const CONNECTIONS = 50;
const SERVICES = 100;
const GOAL = 5000;

let runs = 0;

/** PUTs registrations with ids never used before on any server (the run number keeps repeated runs apart). */
function loadRegistrations(server: ServerProcess, seconds: number): Promise<LoadResult> {
  const run = runs++;
  let counter = 0;
  return runLoad({
    url: `${server.url}/catalog/register`,
    seconds,
    connections: CONNECTIONS,
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    setupRequest: (request) => {
      const i = counter++;
      const body = `{"id":"reg-${run}-${i}","name":"reg-${i % SERVICES}","address":"10.${run & 255}.${(i >> 8) & 255}.${i & 255}","port":${1024 + (i % 60000)}}`;
      return { ...request, method: 'PUT', path: '/catalog/register', body };
    },
  });
}

export async function run(): Promise<Section> {
  const servers: ServerProcess[] = [];
  try {
    step('registration: starting Konsul (synchronous full), Konsul (synchronous normal) and the bare PUT route');
    const full = await startKonsul('konsul-full');
    servers.push(full);
    const normal = await startKonsul('konsul-normal', { config: { storage: { synchronous: 'normal' } } });
    servers.push(normal);
    const bare = await startBareServer('bare', Buffer.from('[]'), 'application/json; charset=utf-8');
    servers.push(bare);
    step('registration: warm-up, 2 s each');
    for (const server of servers) await loadRegistrations(server, 2);
    const names = ['full', 'normal', 'bare'];
    step(`registration: ${ROUNDS} alternating rounds of ${SECONDS} s, ${CONNECTIONS} connections`);
    const [fullResult, normalResult, bareResult] = await interleaved(
      servers.map((server) => () => loadRegistrations(server, SECONDS)),
      ROUNDS,
      (target, round, result) =>
        step(
          `registration:   round ${round + 1} ${names[target]}: ${fmt.int(result.rps)}/s, p99 ${fmt.ms(result.p99Ms)}${failures(result) ? ` (${failures(result)})` : ''}`,
        ),
    );
    const failed = [fullResult, normalResult].map(failures).filter((text) => text !== '');
    return {
      title: 'Registration over HTTP',
      summary:
        `Sustained \`PUT /catalog/register\` with distinct ids over ${SERVICES} services, autocannon ${CONNECTIONS} connections, pipelining 1; ` +
        `every answer waits for the write to be durable. ${ROUNDS} alternating rounds of ${SECONDS} s after a 2 s warm-up, medians. ` +
        'Baseline: a bare Fastify PUT route that parses the same JSON body and answers 200.',
      tables: [
        goalTable([
          {
            figure: 'registrations/s, synchronous full (default)',
            value: fmt.int(fullResult.rps),
            baseline: fmt.int(bareResult.rps),
            ratio: fmt.percent(fullResult.rps / bareResult.rps),
            goal: `≥ ${fmt.int(GOAL)}/s`,
            met: fullResult.rps >= GOAL,
          },
          {
            figure: 'p99, synchronous full',
            value: fmt.ms(fullResult.p99Ms),
            baseline: fmt.ms(bareResult.p99Ms),
            ratio: fmt.ratio(fullResult.p99Ms / bareResult.p99Ms),
            goal: '—',
            met: null,
          },
          {
            figure: 'registrations/s, synchronous normal',
            value: fmt.int(normalResult.rps),
            baseline: fmt.int(bareResult.rps),
            ratio: fmt.percent(normalResult.rps / bareResult.rps),
            goal: `≥ ${fmt.int(GOAL)}/s`,
            met: normalResult.rps >= GOAL,
          },
          {
            figure: 'p99, synchronous normal',
            value: fmt.ms(normalResult.p99Ms),
            baseline: fmt.ms(bareResult.p99Ms),
            ratio: fmt.ratio(normalResult.p99Ms / bareResult.p99Ms),
            goal: '—',
            met: null,
          },
          {
            figure: 'full / normal',
            value: fmt.percent(fullResult.rps / normalResult.rps),
            baseline: '—',
            ratio: '—',
            goal: '— (the price of fsync per commit)',
            met: null,
          },
        ]),
      ],
      command: 'npx tsx bench/registration.ts',
      notes: failed.length === 0 ? [] : [`Failed requests (not counted): ${failed.join('; ')}.`],
    };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

if (isMain(import.meta.url)) console.log(renderSection(await run()));

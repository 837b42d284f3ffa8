/**
 * Connection flood, full size (issue #13 item 2): more idle TCP connections than Konsul has file
 * descriptors, held and re-opened as the server closes them, from flooder processes of their own
 * (one process cannot hold that many: the flood is spread so each stays under its own limit).
 *
 *   npx tsx bench/hostile-connections.ts [seconds] [connections] [headersTimeout]   (defaults: 40, 22000, 10s)
 *
 * With the default 10 s header deadline the server closes silent connections faster than a
 * flooder on a small machine opens them, so the connection limit is not reached; a long one
 * (`... 60 22000 5m`) lets the flood pile up past http.maxConnections and the open-file limit.
 *
 * Reports, with the quiet period before the flood as the same-run baseline: Konsul's event-loop
 * stall (p99 and max beyond the 10 ms sampling interval, from its own metrics, reset at each scrape), its RSS before, during and
 * after, whether /health/live kept answering (one fresh connection every 250 ms, 2 s timeout),
 * whether a tcp check on a local target kept reaching it and stayed passing, how long the server
 * let flood connections live, and its connection counters.
 *
 * The stall at the close (the flooders closing every connection at once) is also shown apart, beside
 * a same-run baseline: a bare node:http server with the same header deadline, flooded until it
 * holds as many connections as Konsul did, then closed the same way, its stall read from its own
 * monitorEventLoopDelay. The two tell Konsul's share of the close from Node's and the kernel's.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseDuration } from '../src/duration.js';
import { EVENT_LOOP_SAMPLE_MS } from '../src/metrics/registry.js';
import { cpuMicros } from './lib/cpu.js';
import { megabytes, residentBytes } from './lib/proc.js';
import { startKonsul } from './lib/processes.js';

const PER_FLOODER = 8000;
const OPENING_CONCURRENCY = 256;

interface FlooderReport {
  open: number;
  opened: number;
  connectErrors: number;
  closedByServer: number;
  lifetimesMs: number[];
}

/** One flooder: keeps `count` silent connections open, re-opening each as the server closes it. */
function runFlooder(port: number, count: number): void {
  const report: FlooderReport = { open: 0, opened: 0, connectErrors: 0, closedByServer: 0, lifetimesMs: [] };
  let stopping = false;
  let opening = 0;
  let wanted = count;
  const sockets = new Set<Socket>();
  const openMore = () => {
    while (!stopping && wanted > 0 && opening < OPENING_CONCURRENCY) {
      wanted--;
      opening++;
      const socket = connect({ host: '127.0.0.1', port });
      let connectedAt = 0;
      socket.on('error', () => undefined);
      // Read (and drop) what the server sends: an unread socket never sees the server's close.
      socket.resume();
      socket.once('connect', () => {
        connectedAt = performance.now();
        opening--;
        report.opened++;
        report.open++;
        sockets.add(socket);
        openMore();
      });
      socket.once('close', () => {
        sockets.delete(socket);
        if (connectedAt === 0) {
          opening--;
          report.connectErrors++;
        } else {
          report.open--;
          if (!stopping) {
            report.closedByServer++;
            if (report.lifetimesMs.length < 50_000) report.lifetimesMs.push(performance.now() - connectedAt);
          }
        }
        if (!stopping) {
          wanted++;
          // A short pause after a refusal, so a full server is not hammered in a tight loop.
          setTimeout(openMore, connectedAt === 0 ? 50 : 0);
        }
      });
    }
  };
  openMore();
  const tick = setInterval(() => process.send?.({ ...report, lifetimesMs: [] }), 1000);
  process.on('message', (message) => {
    if (message !== 'stop') return;
    stopping = true;
    clearInterval(tick);
    for (const socket of sockets) socket.destroy();
    process.send?.({ ...report, final: true }, () => process.exit(0));
  });
}

const NO_REPORT: FlooderReport = { open: 0, opened: 0, connectErrors: 0, closedByServer: 0, lifetimesMs: [] };

interface Flood {
  /** Connections the flooders hold now, from their last periodic reports. */
  held(): number;
  /** Makes every flooder close all its connections at once and exit; resolves with their final reports. */
  stop(): Promise<FlooderReport[]>;
}

function startFlood(port: number, connections: number): Flood {
  const reports: (FlooderReport | undefined)[] = [];
  const flooders = Array.from({ length: Math.ceil(connections / PER_FLOODER) }, (_, n) => {
    const count = Math.min(PER_FLOODER, connections - n * PER_FLOODER);
    const child = fork(fileURLToPath(import.meta.url), ['--flooder', String(port), String(count)], {
      execArgv: process.execArgv,
    });
    child.on('message', (message: FlooderReport) => (reports[n] = message));
    return child;
  });
  return {
    held: () => reports.reduce((sum, report) => sum + (report?.open ?? 0), 0),
    stop: () =>
      Promise.all(
        flooders.map(
          (child, n) =>
            new Promise<FlooderReport>((resolve) => {
              // A periodic report may still be on its way; the final one is marked.
              child.on('message', (message: FlooderReport & { final?: true }) => {
                if (message.final === true) resolve(message);
              });
              child.once('exit', () => resolve(reports[n] ?? NO_REPORT));
              child.send('stop');
            }),
        ),
      ),
  };
}

/** The baseline of the close: a bare node:http server, reporting its own longest loop stall at GET /loop (and resetting it). */
function runBareHttp(headersTimeoutMs: number): void {
  const delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_SAMPLE_MS });
  delay.enable();
  const server = http.createServer(
    { headersTimeout: headersTimeoutMs, requestTimeout: Math.max(headersTimeoutMs, 30_000) },
    (request, response) => {
      if (request.url !== '/loop') return response.end('ok');
      const maxMs = delay.max / 1e6;
      delay.reset();
      response.end(JSON.stringify({ maxMs }));
    },
  );
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
}

/** Floods a bare node:http server until it holds `connections` (or `seconds` pass), closes them all at once, and returns its stall at the close and the count it held. */
async function bareCloseStall(
  seconds: number,
  connections: number,
  headersTimeout: string,
): Promise<{ stallMs: number; held: number; cpuMicros: number }> {
  const bare = fork(fileURLToPath(import.meta.url), ['--bare-http', String(parseDuration(headersTimeout))], {
    execArgv: process.execArgv,
  });
  try {
    const port = await new Promise<number>((resolve) =>
      bare.once('message', (message: { port: number }) => resolve(message.port)),
    );
    const loopMaxMs = async () => (JSON.parse((await get(port, '/loop', 10_000)).body) as { maxMs: number }).maxMs;
    const flood = startFlood(port, connections);
    const started = performance.now();
    while (flood.held() < connections && performance.now() - started < seconds * 1000) await sleep(1000);
    const held = flood.held();
    await loopMaxMs();
    const cpuBefore = cpuMicros(bare.pid!) ?? Number.NaN;
    await flood.stop();
    await sleep(5000);
    const stallMs = Math.max(0, (await loopMaxMs()) - EVENT_LOOP_SAMPLE_MS);
    return { stallMs, held, cpuMicros: (cpuMicros(bare.pid!) ?? Number.NaN) - cpuBefore };
  } finally {
    bare.kill();
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function get(port: number, path: string, timeoutMs: number): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, ms: performance.now() - started }));
      response.on('error', () => resolve({ status: 0, body, ms: performance.now() - started }));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve({ status: 0, body: '', ms: performance.now() - started }));
  });
}

/** A sample of Konsul's metrics: the event-loop figures are reset by each scrape (prom-client). */
async function scrape(port: number): Promise<Map<string, number>> {
  const answer = await get(port, '/metrics', 10_000);
  const values = new Map<string, number>();
  for (const line of answer.body.split('\n')) {
    const match = /^([a-zA-Z0-9_:]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match !== null) values.set(match[1], Number(match[2]));
  }
  return values;
}

function sumOf(metrics: Map<string, number>, prefix: string): number {
  let sum = 0;
  for (const [name, value] of metrics) if (name === prefix || name.startsWith(`${prefix}{`)) sum += value;
  return sum;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 40);
  const connections = Number(process.argv[3] ?? 22_000);
  const headersTimeout = process.argv[4] ?? '10s';

  const target = createServer((socket) => {
    probesReached++;
    socket.destroy();
  });
  let probesReached = 0;
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const targetPort = (target.address() as AddressInfo).port;

  const konsul = await startKonsul('konsul', {
    logLevel: 'warn',
    config: {
      http: { headersTimeout, requestTimeout: (parseDuration(headersTimeout) ?? 0) > 30_000 ? headersTimeout : '30s' },
    },
  });
  const openFileLimit = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${konsul.pid}/limits`, 'utf8'))?.[1];
  try {
    const registered = await new Promise<number>((resolve, reject) => {
      const body = JSON.stringify({
        id: 'flood-target',
        name: 'flood-target',
        address: '127.0.0.1',
        port: targetPort,
        checks: [{ id: 'flood-tcp', type: 'tcp', tcp: `127.0.0.1:${targetPort}`, interval: '1s', timeout: '1s' }],
      });
      const request = http.request(
        { host: '127.0.0.1', port: konsul.httpPort, method: 'PUT', path: '/catalog/register', agent: false },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        },
      );
      request.setHeader('content-type', 'application/json');
      request.on('error', reject);
      request.end(body);
    });
    if (registered !== 200) throw new Error(`registration answered ${registered}`);
    while (!(await get(konsul.httpPort, '/catalog/instances/flood-target', 2000)).body.includes('"passing"'))
      await sleep(200);

    // Baseline: a quiet period of the same length as the liveness sampling below.
    const live: { phase: string; ok: boolean; ms: number }[] = [];
    const state = { phase: 'quiet', sampling: true };
    const sampler = (async () => {
      while (state.sampling) {
        const answer = await get(konsul.httpPort, '/health/live', 2000);
        live.push({ phase: state.phase, ok: answer.status === 200, ms: answer.ms });
        await sleep(250);
      }
    })();
    await scrape(konsul.httpPort);
    const rssBefore = residentBytes(konsul.pid);
    const cpuBeforeQuiet = cpuMicros(konsul.pid) ?? Number.NaN;
    await sleep(5000);
    const cpuOfQuiet = (cpuMicros(konsul.pid) ?? Number.NaN) - cpuBeforeQuiet;
    const quiet = await scrape(konsul.httpPort);

    state.phase = 'flood';
    const probesBefore = probesReached;
    const flooding = startFlood(konsul.httpPort, connections);
    let rssPeak = 0;
    const floodStarted = performance.now();
    while (performance.now() - floodStarted < seconds * 1000) {
      await sleep(1000);
      rssPeak = Math.max(rssPeak, residentBytes(konsul.pid) ?? 0);
      process.stderr.write(
        `\r  flood ${((performance.now() - floodStarted) / 1000).toFixed(0)} s: ${flooding.held()} held by flooders `,
      );
    }
    process.stderr.write('\n');
    const flood = await scrape(konsul.httpPort);
    const probesDuringFlood = probesReached - probesBefore;
    const checkDuringFlood = (await get(konsul.httpPort, '/catalog/instances/flood-target', 5000)).body;
    const heldAtClose = flooding.held();
    const cpuBeforeClose = cpuMicros(konsul.pid) ?? Number.NaN;
    const finals = await flooding.stop();
    state.phase = 'after';
    await sleep(5000);
    state.sampling = false;
    await sampler;
    const cpuOfClose = (cpuMicros(konsul.pid) ?? Number.NaN) - cpuBeforeClose;
    const rssAfter = residentBytes(konsul.pid);
    const after = await scrape(konsul.httpPort);
    const log = readFileSync(konsul.logFile, 'utf8');

    const lifetimes = finals.flatMap((report) => report.lifetimesMs);
    const liveOf = (name: string) => {
      const samples = live.filter((sample) => sample.phase === name);
      const ok = samples.filter((sample) => sample.ok);
      return `${ok.length}/${samples.length} answered, p50 ${percentile(
        ok.map((sample) => sample.ms),
        50,
      ).toFixed(1)} ms, max ${Math.max(0, ...ok.map((sample) => sample.ms)).toFixed(1)} ms`;
    };
    // The lag series hold the whole time between two samples: a stall is what exceeds the interval.
    const stall = (metrics: Map<string, number>, name: string) =>
      Math.max(0, (metrics.get(name) ?? Number.NaN) * 1000 - EVENT_LOOP_SAMPLE_MS).toFixed(1);
    const lag = (metrics: Map<string, number>) =>
      `p99 ${stall(metrics, 'konsul_nodejs_eventloop_lag_p99_seconds')} ms, max ${stall(metrics, 'konsul_nodejs_eventloop_lag_max_seconds')} ms`;
    const checkStatus = /"status":"(\w+)"/.exec(checkDuringFlood.slice(checkDuringFlood.indexOf('"checks"')))?.[1];
    console.log(
      `Connection flood: ${connections} idle connections for ${seconds} s against ulimit -n ${openFileLimit}`,
    );
    console.log(`  http.maxConnections in effect: ${flood.get('konsul_http_connections_max')}`);
    console.log(`  event-loop stall   quiet ${lag(quiet)} | flood ${lag(flood)} | after ${lag(after)}`);
    console.log(
      `  RSS                before ${megabytes(rssBefore)} | flood peak ${megabytes(rssPeak)} | after ${megabytes(rssAfter)}`,
    );
    console.log(`  /health/live       quiet ${liveOf('quiet')}`);
    console.log(`                     flood ${liveOf('flood')}`);
    console.log(`                     after ${liveOf('after')}`);
    console.log(
      `  tcp check          ${probesDuringFlood} probes reached the target during the flood (interval 1 s); status then: ${checkStatus}; status changes during the flood ${sumOf(flood, 'konsul_health_status_changes_total') - sumOf(quiet, 'konsul_health_status_changes_total')}; local errors ${sumOf(after, 'konsul_health_check_local_errors_total')}`,
    );
    console.log(
      `  flood connections  opened ${finals.reduce((sum, report) => sum + report.opened, 0)}, closed by the server ${lifetimes.length}, lifetime p50 ${(percentile(lifetimes, 50) / 1000).toFixed(1)} s, max ${(lifetimes.reduce((longest, ms) => Math.max(longest, ms), 0) / 1000).toFixed(1)} s; connect errors ${finals.reduce((sum, report) => sum + report.connectErrors, 0)}`,
    );
    console.log(
      `  server counters    shed ${sumOf(after, 'konsul_http_connections_shed_total')}, refused ${sumOf(after, 'konsul_http_connections_refused_total')}, open now ${sumOf(after, 'konsul_http_connections')}`,
    );
    console.log(`  EMFILE in the log: ${log.includes('EMFILE') ? 'yes' : 'no'}`);
    const bare = await bareCloseStall(seconds, heldAtClose, headersTimeout);
    // CPU over the close and the 5 s after it, less Konsul's own over the 5 s quiet period (its
    // checks and the liveness probes), per connection closed: steadier than the one longest
    // loop turn, which depends on how the flooders' FINs bunch up.
    const perClose = (micros: number, closed: number) => (micros / closed).toFixed(0);
    console.log(
      `  close of the flood Konsul stall ${stall(after, 'konsul_nodejs_eventloop_lag_max_seconds')} ms closing ${heldAtClose}, ${perClose(cpuOfClose - cpuOfQuiet, heldAtClose)} µs CPU each | bare node:http stall ${bare.stallMs.toFixed(1)} ms closing ${bare.held}, ${perClose(bare.cpuMicros, bare.held)} µs CPU each`,
    );
  } finally {
    await konsul.stop();
    target.close();
  }
}

if (process.argv[2] === '--flooder') runFlooder(Number(process.argv[3]), Number(process.argv[4]));
else if (process.argv[2] === '--bare-http') runBareHttp(Number(process.argv[3]));
else
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });

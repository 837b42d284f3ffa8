/**
 * DNS throughput: Konsul's DNS face against a raw node:dgram responder that replays one
 * pre-encoded answer of the same size, both driven by dnsperf with the same settings in the
 * same run. Each server runs in its own process, apart from dnsperf.
 *
 *   npx tsx bench/dns.ts                # 10 s per target
 *   BENCH_DNS_SECONDS=5 npx tsx bench/dns.ts
 *
 * Goal: Konsul at 60% or more of the raw responder's queries per second.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const INSTANCES = 10;
const QUERY_NAME = 'web.service.konsul';
const SECONDS = Number(process.env.BENCH_DNS_SECONDS ?? 10);
const GOAL = 0.6;
const SELF = fileURLToPath(import.meta.url);

const role = process.argv[2];
if (role === 'konsul') await serveKonsul();
else if (role === 'raw') serveRaw(Buffer.from(process.argv[3], 'hex'));
else await main();

/** Child: a catalog with INSTANCES instances of `web` and Konsul's DNS server; prints its port. */
async function serveKonsul(): Promise<void> {
  const [
    { default: pino },
    { Registry },
    { Catalog },
    { SqliteStore },
    { loadConfig },
    { createStrategyManager },
    { startDnsServer },
  ] = await Promise.all([
    import('pino'),
    import('prom-client'),
    import('../src/catalog/catalog.js'),
    import('../src/catalog/sqlite-store.js'),
    import('../src/config/load.js'),
    import('../src/lb/manager.js'),
    import('../src/dns/server.js'),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'konsul-bench-dns-'));
  const config = loadConfig({ env: {} });
  const catalog = await Catalog.open(new SqliteStore(join(dir, 'konsul.db')), {
    checkDefaults: { interval: '10s', timeout: '5s' },
  });
  for (let i = 1; i <= INSTANCES; i++) {
    await catalog.register({
      name: 'web',
      address: `10.0.0.${i}`,
      port: 8080,
      checks: [{ type: 'ttl', ttl: '1h', status: 'passing' }],
    });
  }
  const server = await startDnsServer({
    config: { ...config.dns, host: '127.0.0.1', port: 0 },
    catalog,
    lb: createStrategyManager(config.lb),
    registry: new Registry(),
    logger: pino({ level: 'silent' }),
  });
  const stop = async (): Promise<void> => {
    await server.close();
    await catalog.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
}

/** Child: answers every datagram with `answer`, its ID patched to the query's: the floor of what Node can do. */
function serveRaw(answer: Buffer): void {
  const socket = createSocket('udp4');
  socket.on('message', (query, peer) => {
    if (query.length < 12) return;
    const reply = Buffer.allocUnsafe(answer.length);
    answer.copy(reply);
    reply[0] = query[0];
    reply[1] = query[1];
    socket.send(reply, peer.port, peer.address);
  });
  socket.bind(0, '127.0.0.1', () => {
    socket.setRecvBufferSize(4 * 1024 * 1024);
    process.stdout.write(`${JSON.stringify({ port: socket.address().port })}\n`);
  });
  process.on('SIGTERM', () => socket.close(() => process.exit(0)));
}

async function main(): Promise<void> {
  const probe = spawnSync('dnsperf', ['-h'], { encoding: 'utf8' });
  if (probe.error !== undefined) {
    console.error(
      'bench/dns.ts needs dnsperf, which was not found on PATH. Install it with: apt-get install -y dnsperf',
    );
    process.exit(1);
  }
  const dir = mkdtempSync(join(tmpdir(), 'konsul-bench-dnsperf-'));
  const queryFile = join(dir, 'queries.txt');
  writeFileSync(queryFile, `${QUERY_NAME} A\n`);
  const children: ChildProcess[] = [];
  try {
    const konsul = await startChild(['konsul'], children);
    const answer = await askOnce(konsul.port);
    const raw = await startChild(['raw', answer.toString('hex')], children);
    const rawAnswer = await askOnce(raw.port);
    if (rawAnswer.length !== answer.length) throw new Error('the raw responder does not answer the same size');

    console.log(
      `dnsperf, ${SECONDS} s per target, UDP, "${QUERY_NAME} A" over ${INSTANCES} instances; answer ${answer.length} bytes`,
    );
    const konsulRun = runDnsperf(konsul.port, queryFile);
    const rawRun = runDnsperf(raw.port, queryFile);
    const ratio = konsulRun.qps / rawRun.qps;
    console.table([
      {
        target: 'konsul dns',
        qps: Math.round(konsulRun.qps),
        lost: konsulRun.lost,
        'avg latency ms': konsulRun.latencyMs,
      },
      { target: 'raw node:dgram', qps: Math.round(rawRun.qps), lost: rawRun.lost, 'avg latency ms': rawRun.latencyMs },
    ]);
    console.log(`answer size: ${answer.length} bytes`);
    console.log(
      `konsul / raw: ${(ratio * 100).toFixed(1)}% (goal ≥ ${GOAL * 100}%) — ${ratio >= GOAL ? 'met' : 'NOT met'}`,
    );
  } finally {
    for (const child of children) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

function startChild(args: string[], children: ChildProcess[]): Promise<{ port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n')[0];
      if (output.includes('\n')) resolve(JSON.parse(line) as { port: number });
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} server exited early with code ${code}`)));
  });
}

/** One A query, to capture the answer the raw responder will replay. */
function askOnce(port: number): Promise<Buffer> {
  const labels = QUERY_NAME.split('.');
  const query = Buffer.concat([
    Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...labels.map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])),
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
  const socket = createSocket('udp4');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no answer from port ${port}`));
    }, 3000);
    socket.on('message', (message) => {
      clearTimeout(timer);
      socket.close();
      resolve(message);
    });
    socket.send(query, port, '127.0.0.1');
  });
}

function runDnsperf(port: number, queryFile: string): { qps: number; lost: string; latencyMs: string } {
  // Enough outstanding queries to keep a single-threaded server busy; the same for both targets.
  const run = spawnSync(
    'dnsperf',
    ['-s', '127.0.0.1', '-p', String(port), '-d', queryFile, '-l', String(SECONDS), '-c', '4', '-q', '200', '-t', '2'],
    { encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`dnsperf failed: ${run.stderr || run.stdout}`);
  const qps = /Queries per second:\s+([\d.]+)/.exec(run.stdout);
  const lost = /Queries lost:\s+(\d+ \([\d.]+%\))/.exec(run.stdout);
  const latency = /Average Latency \(s\):\s+([\d.]+)/.exec(run.stdout);
  if (qps === null) throw new Error(`could not read dnsperf's output:\n${run.stdout}`);
  return {
    qps: Number(qps[1]),
    lost: lost?.[1] ?? '?',
    latencyMs: latency === null ? '?' : (Number(latency[1]) * 1000).toFixed(3),
  };
}

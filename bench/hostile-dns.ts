/**
 * Hostile DNS-over-TCP load at full size (issue #13, item 5), against Konsul's DNS server in a
 * process of its own with the default config. For each scenario it records:
 * - the server's event-loop stalls during the attack and in the 2 s after the attackers close
 *   (monitorEventLoopDelay with a 10 ms timer, minus those 10 ms: an idle loop reads 0);
 * - its RSS, V8 heap used and ArrayBuffer bytes before, at the RSS peak (sampled each second)
 *   and after a forced GC once the attackers have closed; RSS staying up while heap and buffers
 *   are back down is memory the allocator kept, not memory Konsul holds;
 * - the most query bytes held (read, not yet answered) and reply bytes queued, sampled each second;
 * - whether a known-good A query from another source (127.0.0.250), every 500 ms, was answered
 *   within 1 s over UDP and over TCP (a new connection each time).
 *
 *   npx tsx bench/hostile-dns.ts                   (or: npx tsx bench/hostile.ts dns)
 *   HOSTILE_DNS_SECONDS=10 HOSTILE_DNS_CONNECTIONS=2000 npx tsx bench/hostile-dns.ts
 *   HOSTILE_DNS_SCENARIOS=pipeline npx tsx bench/hostile-dns.ts
 *   HOSTILE_DNS_VERBOSE=1 ...   a line a second, each probe failure, each server stall over 100 ms
 *                               and the largest memory mappings after GC, on stderr
 *   HOSTILE_DNS_PROF=dir ...    a --cpu-prof of the server into dir
 *
 * Scenarios:
 * - trickle-one-source: 4,096 connections from one address, each sending one byte of a query
 *   every 3 s and reconnecting 1 s after being closed (the attack that once held every slot).
 * - trickle-many-sources: the same from 256 loopback addresses, 16 each, under the per-source
 *   limit: only the message deadline and eviction of stale connections stand in the way.
 * - pipeline: 4,096 connections from 64 addresses (64 each, the per-source limit), each writing 2,000 pipelined SRV queries
 *   for a 40-instance service and never reading an answer (this once took RSS from 470 MB to
 *   1.28 GB, and it stayed there after they closed).
 *
 * Loopback addresses other than 127.0.0.1 must be usable as sources (Linux: all of 127/8).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const SECONDS = Number(process.env.HOSTILE_DNS_SECONDS ?? 30);
const CONNECTIONS = Number(process.env.HOSTILE_DNS_CONNECTIONS ?? 4096);
const SCENARIOS = (process.env.HOSTILE_DNS_SCENARIOS ?? 'trickle-one-source,trickle-many-sources,pipeline').split(',');
const PROBE_SOURCE = '127.0.0.250';
const PROBE_INTERVAL_MS = 500;
const PROBE_TIMEOUT_MS = 1000;
const BIG_INSTANCES = 40;
/**
 * monitorEventLoopDelay's timer period. It records the whole interval between two of its timer
 * callbacks, so an idle loop reads about this much: the table reports the delay beyond it.
 */
const LOOP_RESOLUTION_MS = 10;

interface Stats {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  arrayBuffers: number;
  external: number;
  delayP50: number;
  delayP99: number;
  delayMax: number;
  connections: number;
  queuedOutputBytes: number;
  heldInputBytes: number;
}

type Command = { cmd: 'stats'; resetDelay: boolean } | { cmd: 'gc' };

/** Child: a catalog with `web` (1 instance) and `big` (40), and the DNS server with the default config. */
async function serve(): Promise<void> {
  const [{ default: pino }, { Registry }, { Catalog }, { SqliteStore }, { loadConfig }, { createStrategyManager }] =
    await Promise.all([
      import('pino'),
      import('prom-client'),
      import('../src/catalog/catalog.js'),
      import('../src/catalog/sqlite-store.js'),
      import('../src/config/load.js'),
      import('../src/lb/manager.js'),
    ]);
  const { startDnsServer } = await import('../src/dns/server.js');
  const dir = mkdtempSync(join(tmpdir(), 'konsul-bench-hostile-dns-'));
  const config = loadConfig({ env: {} });
  const catalog = await Catalog.open(new SqliteStore(join(dir, 'konsul.db')), {
    checkDefaults: { interval: '10s', timeout: '5s' },
  });
  const passing = [{ type: 'ttl' as const, ttl: '1h', status: 'passing' as const }];
  await catalog.register({ name: 'web', address: '10.0.0.1', port: 80, checks: passing });
  for (let i = 1; i <= BIG_INSTANCES; i++) {
    await catalog.register({ name: 'big', address: `10.0.1.${i}`, port: 8080, checks: passing });
  }
  const server = await startDnsServer({
    config: { ...config.dns, host: '127.0.0.1', port: 0 },
    catalog,
    lb: createStrategyManager(config.lb),
    registry: new Registry(),
    logger: pino({ level: 'silent' }),
  });
  const delay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  delay.enable();
  if (process.env.HOSTILE_DNS_VERBOSE !== undefined) {
    let last = performance.now();
    setInterval(() => {
      const now = performance.now();
      if (now - last > 110) console.error(`server stall ${(now - last - 10).toFixed(0)} ms ending ${clock()}`);
      last = now;
    }, 10).unref();
  }
  process.on('message', (message: Command) => {
    if (message.cmd === 'gc') {
      (globalThis as { gc?: () => void }).gc?.();
      if (process.env.HOSTILE_DNS_VERBOSE !== undefined) {
        const maps = readFileSync('/proc/self/smaps', 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
        const sized = maps
          .map((entry) => ({ head: entry.split('\n')[0], rss: Number(/\nRss:\s+(\d+)/.exec(entry)?.[1] ?? 0) }))
          .sort((a, b) => b.rss - a.rss)
          .slice(0, 6);
        const memory = process.memoryUsage();
        console.error(`after gc heapTotal=${Math.round(memory.heapTotal / 2 ** 20)} MB; largest mappings:`);
        for (const { head, rss } of sized) console.error(`  ${Math.round(rss / 1024)} MB ${head}`);
      }
      process.send?.({ done: true });
      return;
    }
    const memory = process.memoryUsage();
    const stats: Stats = {
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      heapTotal: memory.heapTotal,
      arrayBuffers: memory.arrayBuffers,
      external: memory.external,
      delayP50: delay.percentile(50) / 1e6,
      delayP99: Math.max(0, delay.percentile(99) / 1e6 - LOOP_RESOLUTION_MS),
      delayMax: Math.max(0, delay.max / 1e6 - LOOP_RESOLUTION_MS),
      // Absent before the TCP limits existed: the same script then measures the old server.
      connections: (server.tcp as typeof server.tcp | undefined)?.connectionCount ?? -1,
      queuedOutputBytes: (server.tcp as typeof server.tcp | undefined)?.queuedOutputBytes ?? -1,
      heldInputBytes: (server.tcp as typeof server.tcp | undefined)?.heldInputBytes ?? -1,
    };
    if (message.resetDelay) delay.reset();
    process.send?.(stats);
  });
  process.on('SIGTERM', () => {
    void server
      .close()
      .then(() => catalog.close())
      .then(() => {
        rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      });
  });
  process.send?.({ port: server.port });
}

async function main(): Promise<void> {
  console.log(
    `hostile DNS over TCP: ${CONNECTIONS} attacking connections, ${SECONDS} s per scenario, default config; probe from ${PROBE_SOURCE} every ${PROBE_INTERVAL_MS} ms`,
  );
  const rows: Record<string, string | number>[] = [];
  for (const scenario of SCENARIOS) {
    const child = fork(SELF, ['server'], {
      execArgv: [
        '--import',
        'tsx',
        '--expose-gc',
        ...(process.env.HOSTILE_DNS_PROF === undefined
          ? []
          : ['--cpu-prof', '--cpu-prof-dir=' + process.env.HOSTILE_DNS_PROF]),
      ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    // Whatever happens to this process, the server goes with it.
    const killChild = (): void => void child.kill('SIGKILL');
    process.once('exit', killChild);
    try {
      const { port } = await nextMessage<{ port: number }>(child);
      if (process.env.HOSTILE_DNS_VERBOSE !== undefined) console.error(`${scenario}: server on port ${port}`);
      rows.push(await runScenario(scenario, child, port));
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
  console.table(rows);
}

async function runScenario(
  scenario: string,
  child: ChildProcess,
  port: number,
): Promise<Record<string, string | number>> {
  await ask(child, { cmd: 'gc' });
  const before = await ask<Stats>(child, { cmd: 'stats', resetDelay: true });
  const probe = new Probe(port);
  const attack =
    scenario === 'pipeline'
      ? new Pipeliners(port, CONNECTIONS, 64)
      : scenario === 'trickle-many-sources'
        ? new Tricklers(port, CONNECTIONS, 256)
        : new Tricklers(port, CONNECTIONS, 1);
  attack.start();
  probe.start();
  let peak = before;
  let peakConnections = 0;
  let peakInput = 0;
  const started = performance.now();
  while (performance.now() - started < SECONDS * 1000) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const now = await ask<Stats>(child, { cmd: 'stats', resetDelay: false });
    if (now.rss > peak.rss) peak = now;
    peakConnections = Math.max(peakConnections, now.connections);
    peakInput = Math.max(peakInput, now.heldInputBytes);
    if (process.env.HOSTILE_DNS_VERBOSE !== undefined) {
      const t = ((performance.now() - started) / 1000).toFixed(0);
      console.error(
        `${clock()} ${scenario} t=${t}s conns=${now.connections} queuedKB=${Math.round(now.queuedOutputBytes / 1024)} inputKB=${Math.round(now.heldInputBytes / 1024)} rss=${Math.round(now.rss / 2 ** 20)} heap=${Math.round(now.heapUsed / 2 ** 20)}/${Math.round(now.heapTotal / 2 ** 20)} ab=${Math.round(now.arrayBuffers / 2 ** 20)} ext=${Math.round(now.external / 2 ** 20)} max=${now.delayMax.toFixed(0)} probe tcp ${probe.tcp.ok}/${probe.tcp.sent} udp ${probe.udp.ok}/${probe.udp.sent}`,
      );
    }
  }
  const during = await ask<Stats>(child, { cmd: 'stats', resetDelay: true });
  probe.stop();
  await attack.stop();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const afterClose = await ask<Stats>(child, { cmd: 'stats', resetDelay: false });
  await ask(child, { cmd: 'gc' });
  const afterGc = await ask<Stats>(child, { cmd: 'stats', resetDelay: false });
  const mb = (bytes: number): number => Math.round(bytes / 2 ** 20);
  return {
    scenario,
    'attacker conns opened': attack.opened,
    'server conns (peak)': peakConnections,
    'loop stall p99 ms': Number(during.delayP99.toFixed(1)),
    'loop stall max ms': Number(during.delayMax.toFixed(1)),
    'loop stall max at close ms': Number(afterClose.delayMax.toFixed(1)),
    'RSS before MB': mb(before.rss),
    'RSS peak MB': mb(peak.rss),
    'queued at peak KB': Math.round(peak.queuedOutputBytes / 1024),
    'input held max KB': Math.round(peakInput / 1024),
    'RSS after close MB': mb(afterClose.rss),
    'RSS after GC MB': mb(afterGc.rss),
    'heap before/peak/after GC MB': `${mb(before.heapUsed)}/${mb(peak.heapUsed)}/${mb(afterGc.heapUsed)}`,
    'buffers before/peak/after GC MB': `${mb(before.arrayBuffers)}/${mb(peak.arrayBuffers)}/${mb(afterGc.arrayBuffers)}`,
    'conns after close': afterGc.connections,
    'probe UDP ok': `${probe.udp.ok}/${probe.udp.sent}`,
    'probe TCP ok': `${probe.tcp.ok}/${probe.tcp.sent}`,
    'probe TCP worst ms': Math.round(probe.tcp.worstMs),
  };
}

/** Wall clock to the millisecond, to line up the server's and the bench's lines. */
function clock(): string {
  return new Date().toISOString().slice(14, 23);
}

function nextMessage<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once('message', (message) => {
      child.off('exit', onExit);
      resolve(message as T);
    });
    const onExit = (code: number | null): void => reject(new Error(`server exited with ${code}`));
    child.once('exit', onExit);
  });
}

function ask<T>(child: ChildProcess, command: Command): Promise<T> {
  const reply = nextMessage<T>(child);
  child.send(command);
  return reply;
}

/** An A query for `name` (RFC 1035 §4.1), or SRV with `srv`. */
function query(name: string, id: number, srv = false): Buffer {
  const labels = name.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)]));
  return Buffer.concat([
    Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...labels,
    Buffer.from([0, 0, srv ? 33 : 1, 0, 1]),
  ]);
}

const framed = (message: Buffer): Buffer => Buffer.concat([Buffer.from([0, message.length]), message]);

/** `count` addresses in 127.1.0.0/16 to spread connections over (one = 127.0.0.1 only). */
function sources(count: number): string[] {
  if (count === 1) return ['127.0.0.1'];
  return Array.from({ length: count }, (_, i) => `127.1.${(i >> 8) & 255}.${i & 255}`);
}

/** A known-good client: an A query over UDP and one over TCP every PROBE_INTERVAL_MS. */
class Probe {
  readonly udp = { sent: 0, ok: 0 };
  readonly tcp = { sent: 0, ok: 0, worstMs: 0 };
  private timer: NodeJS.Timeout | undefined;
  private readonly socket = createSocket('udp4');
  private readonly waiting = new Map<number, NodeJS.Timeout>();
  private id = 0;
  private startedAt = 0;

  constructor(private readonly port: number) {
    this.socket.bind({ address: PROBE_SOURCE, port: 0 });
    this.socket.on('message', (message: Buffer) => {
      const timer = this.waiting.get(message.readUInt16BE(0));
      if (timer === undefined) return;
      clearTimeout(timer);
      this.waiting.delete(message.readUInt16BE(0));
      if (message.readUInt16BE(6) === 1) this.udp.ok++;
    });
  }

  start(): void {
    this.startedAt = performance.now();
    this.timer = setInterval(() => {
      this.id = (this.id + 1) & 0xffff;
      const id = this.id;
      this.udp.sent++;
      this.waiting.set(
        id,
        setTimeout(() => this.waiting.delete(id), PROBE_TIMEOUT_MS),
      );
      this.socket.send(query('web.service.konsul', id), this.port, '127.0.0.1');
      this.tcpOnce(id);
    }, PROBE_INTERVAL_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    for (const timer of this.waiting.values()) clearTimeout(timer);
    this.socket.close();
  }

  private tcpOnce(id: number): void {
    this.tcp.sent++;
    const started = performance.now();
    const socket = connect({ port: this.port, host: '127.0.0.1', localAddress: PROBE_SOURCE });
    let connectedAt = -1;
    let finished = false;
    const done = (ok: boolean, how = ''): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      if (!ok && process.env.HOSTILE_DNS_VERBOSE !== undefined) {
        console.error(
          `${clock()} probe TCP failed (${how}) at ${((started - this.startedAt) / 1000).toFixed(1)} s: connected after ${connectedAt < 0 ? '-' : (connectedAt - started).toFixed(0)} ms`,
        );
      }
      if (ok) {
        this.tcp.ok++;
        this.tcp.worstMs = Math.max(this.tcp.worstMs, performance.now() - started);
      }
    };
    const timer = setTimeout(() => done(false, 'timeout'), PROBE_TIMEOUT_MS);
    let received = Buffer.alloc(0);
    socket.on('error', (error: NodeJS.ErrnoException) => done(false, error.code ?? 'error'));
    socket.on('close', () => done(false, 'closed'));
    socket.on('connect', () => {
      connectedAt = performance.now();
      socket.write(framed(query('web.service.konsul', id)));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        done(received.readUInt16BE(2) === id && received.readUInt16BE(2 + 6) === 1);
      }
    });
  }
}

interface Attack {
  opened: number;
  start(): void;
  stop(): Promise<void>;
}

/** Connections that send one byte of a query every 3 s, reconnecting 1 s after the server closes them. */
class Tricklers implements Attack {
  opened = 0;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly message = framed(query('web.service.konsul', 7));
  private readonly addresses: string[];

  constructor(
    private readonly port: number,
    private readonly count: number,
    sourceCount: number,
  ) {
    this.addresses = sources(sourceCount);
  }

  start(): void {
    for (let i = 0; i < this.count; i++) this.open(this.addresses[i % this.addresses.length]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => setImmediate(resolve));
  }

  private open(localAddress: string): void {
    if (this.stopped) return;
    this.opened++;
    const socket = connect({ port: this.port, host: '127.0.0.1', localAddress });
    this.sockets.add(socket);
    let sent = 0;
    const tick = setInterval(() => {
      if (sent < this.message.length) socket.write(this.message.subarray(sent, ++sent));
    }, 3000);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(tick);
      this.sockets.delete(socket);
      const again = setTimeout(() => {
        this.timers.delete(again);
        this.open(localAddress);
      }, 1000);
      this.timers.add(again);
    });
  }
}

/** Connections that write 2,000 pipelined SRV queries each and never read. */
class Pipeliners implements Attack {
  opened = 0;
  private readonly sockets = new Set<Socket>();
  private readonly addresses: string[];
  private readonly burst = Buffer.concat(
    Array.from({ length: 2000 }, (_, i) => framed(query('big.service.konsul', i, true))),
  );

  constructor(
    private readonly port: number,
    private readonly count: number,
    sourceCount: number,
  ) {
    this.addresses = sources(sourceCount);
  }

  start(): void {
    for (let i = 0; i < this.count; i++) {
      this.opened++;
      const socket = connect({
        port: this.port,
        host: '127.0.0.1',
        localAddress: this.addresses[i % this.addresses.length],
      });
      this.sockets.add(socket);
      socket.pause();
      socket.on('error', () => undefined);
      socket.on('connect', () => socket.write(this.burst));
      socket.on('close', () => this.sockets.delete(socket));
    }
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

// Last, so every class above is initialised before either role runs.
if (process.argv[2] === 'server') await serve();
else await main();

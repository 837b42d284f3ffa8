/**
 * Every process a benchmark starts goes through here, so every one is stopped at the end:
 * by the caller's stop(), and otherwise on exit or Ctrl-C by the handlers installed below.
 * Servers run apart from the load generator (this process), each in its own Node process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { askChild } from './child-ask.js';
import type { StallProbeReply, StallProbeRequest, StallReading } from './stall-probe.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 5_000;

const live = new Set<ChildProcess>();
let handlersInstalled = false;

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Last resort: a crash or an early exit must not leave servers running.
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const child of live) child.kill('SIGKILL');
      process.exit(130);
    });
  }
}

/**
 * Ports are picked below Linux's ephemeral range (32768–60999 by default), where listen(0) would
 * pick them too: there, an outgoing connection of the load generator could take the port between
 * the pick and the server's own bind (a client bench run failed with EADDRINUSE that way).
 */
const PICK_FROM = 20_000;
const PICK_TO = 32_767;

/** A port free at the time of asking. Konsul at warn level prints no start-up line, so the bench picks its ports. */
export function freeTcpPort(): Promise<number> {
  return firstFree((port) => {
    const server = createServer();
    return new Promise((resolveBound) => {
      server.once('error', () => resolveBound(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolveBound(true)));
    });
  });
}

export function freeUdpPort(): Promise<number> {
  return firstFree((port) => {
    const socket = createSocket('udp4');
    return new Promise((resolveBound) => {
      socket.once('error', () => resolveBound(false));
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolveBound(true)));
    });
  });
}

async function firstFree(binds: (port: number) => Promise<boolean>): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = PICK_FROM + Math.floor(Math.random() * (PICK_TO - PICK_FROM + 1));
    if (await binds(port)) return port;
  }
  throw new Error(`no free port between ${PICK_FROM} and ${PICK_TO} in 100 tries`);
}

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  readonly httpPort: number;
  /** Where the child's stdout and stderr go. */
  readonly logFile: string;
  /** Stops the child (SIGTERM, then SIGKILL after 5 s) and removes its temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface KonsulProcess extends ServerProcess {
  readonly dnsPort: number;
  readonly dataDir: string;
  /** With the `stallProbe` option: what bench/lib/stall-probe.ts in the server measured. */
  readonly stallProbe?: StallProbe;
}

/** The bench side of bench/lib/stall-probe.ts: `reset` starts a phase, `read` ends it. */
export interface StallProbe {
  reset(): Promise<StallReading>;
  read(): Promise<StallReading>;
}

export interface KonsulOptions {
  /** Default warn: at info Konsul logs one line per request, and the figure would measure pino. */
  logLevel?: 'warn' | 'info';
  /** Written to a file named by KONSUL_CONFIG; only the keys it changes. */
  config?: Record<string, unknown>;
  /** Load bench/lib/stall-probe.ts into the server (a timer every millisecond: for the stall benches only). */
  stallProbe?: boolean;
}

/** Starts `konsul` (src/main.ts through tsx) on free ports with a fresh temp data dir; resolves once /health/ready answers 200. */
export async function startKonsul(name: string, options: KonsulOptions = {}): Promise<KonsulProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'konsul-bench-'));
  const [httpPort, dnsPort] = [await freeTcpPort(), await freeUdpPort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KONSUL_HOST: '127.0.0.1',
    KONSUL_DNS_HOST: '127.0.0.1',
    KONSUL_PORT: String(httpPort),
    KONSUL_DNS_PORT: String(dnsPort),
    KONSUL_DATA_DIR: join(dir, 'data'),
    KONSUL_LOG_LEVEL: options.logLevel ?? 'warn',
    KONSUL_TOKEN: '',
  };
  if (options.config !== undefined) {
    const configFile = join(dir, 'konsul.bench.json');
    writeFileSync(configFile, JSON.stringify(options.config));
    env.KONSUL_CONFIG = configFile;
  } else {
    delete env.KONSUL_CONFIG;
  }
  const probeArgs = options.stallProbe === true ? ['--import', join(ROOT, 'bench', 'lib', 'stall-probe.ts')] : [];
  const server = await startServer(
    name,
    [...probeArgs, join(ROOT, 'src', 'main.ts')],
    env,
    dir,
    httpPort,
    options.stallProbe === true,
  );
  return {
    ...server,
    dnsPort,
    dataDir: join(dir, 'data'),
    ...(options.stallProbe === true ? { stallProbe: stallProbeOf(server.child) } : {}),
  };
}

/** Starts bench/bare-server.ts serving `body` for GETs with `contentType`; resolves once it answers. */
export async function startBareServer(name: string, body: Buffer, contentType: string): Promise<ServerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'konsul-bench-bare-'));
  const bodyFile = join(dir, 'body');
  writeFileSync(bodyFile, body);
  const port = await freeTcpPort();
  const env = { ...process.env, BARE_PORT: String(port), BARE_BODY_FILE: bodyFile, BARE_CONTENT_TYPE: contentType };
  return startServer(name, [join(ROOT, 'bench', 'bare-server.ts')], env, dir, port);
}

/**
 * Extra Node arguments for every server process, from BENCH_NODE_ARGS (space-separated), e.g.
 * `BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` to profile the servers under load:
 * Node refuses --cpu-prof in NODE_OPTIONS.
 */
function serverNodeArgs(): string[] {
  const args = process.env.BENCH_NODE_ARGS?.trim();
  return args === undefined || args === '' ? [] : args.split(/\s+/);
}

/** Asks the probe in `child` over its IPC channel. */
function stallProbeOf(child: ChildProcess): StallProbe {
  const ask = (question: 'reset' | 'read'): Promise<StallReading> =>
    askChild(
      child,
      { stallProbe: question } satisfies StallProbeRequest,
      (message) => {
        const reply = message as Partial<StallProbeReply> | null;
        return reply?.stallProbe === 'reading' ? reply.reading : undefined;
      },
      'stall probe',
    );
  return { reset: () => ask('reset'), read: () => ask('read') };
}

async function startServer(
  name: string,
  script: string[],
  env: NodeJS.ProcessEnv,
  dir: string,
  port: number,
  /** An IPC channel to the child (the stall probe's). */
  ipc = false,
): Promise<ServerProcess & { child: ChildProcess }> {
  installHandlers();
  const logFile = join(dir, 'server.log');
  const logFd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [...serverNodeArgs(), '--import', 'tsx', ...script], {
    cwd: ROOT,
    env,
    stdio: ipc ? ['ignore', logFd, logFd, 'ipc'] : ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  live.add(child);
  let exited = false;
  const exit = new Promise<void>((resolveExit) =>
    child.once('exit', () => {
      exited = true;
      live.delete(child);
      resolveExit();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(url, () => exited, logFile);
  } catch (error) {
    await stop();
    throw error;
  }
  return { name, pid: child.pid!, url, httpPort: port, logFile, stop, child };
}

async function waitReady(url: string, hasExited: () => boolean, logFile: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (hasExited()) throw new Error(`the server exited during start-up:\n${tail(logFile)}`);
    try {
      const response = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolveDelay) => setTimeout(resolveDelay, 100));
  }
  throw new Error(`the server at ${url} was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${tail(logFile)}`);
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Runs `body` with the given servers started, and stops them all afterwards, whatever happens. */
export async function withServers<T>(
  starts: (() => Promise<ServerProcess>)[],
  body: (servers: ServerProcess[]) => Promise<T>,
): Promise<T> {
  const servers: ServerProcess[] = [];
  try {
    for (const start of starts) servers.push(await start());
    return await body(servers);
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

/**
 * Misbehaving peers for the hardening tests, the plain HTTP client they drive Konsul with, and
 * the real command in a child process under a file-size limit or bundled for fast restarts.
 *
 * Targets (raw TCP, so the misbehaviour is exact and not smoothed over by node:http):
 * - `hang`: accepts, reads the request, never answers;
 * - `reset`: accepts, reads the start of the request, then sends a TCP RST;
 * - `endless`: answers 200 with a chunked body that never ends.
 * Everything listens on 127.0.0.1, port 0, and closes in t.teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export type FaultKind = 'hang' | 'reset' | 'endless';

export interface FaultTarget {
  kind: FaultKind;
  port: number;
  url: string;
  /** Connections accepted so far. */
  accepted: number;
  /** Connections open now. */
  readonly open: number;
  close(): Promise<void>;
}

const CHUNK = Buffer.from(`4000\r\n${'x'.repeat(0x4000)}\r\n`);

/** `status` is the code the `endless` target answers with (200 by default). */
export async function startFaultTarget(
  t: Teardown,
  kind: FaultKind,
  options: { status?: number } = {},
): Promise<FaultTarget> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  const server = createServer((socket) => {
    target.accepted++;
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    switch (kind) {
      case 'hang':
        socket.resume();
        break;
      case 'reset':
        socket.once('data', () => socket.resetAndDestroy());
        break;
      case 'endless': {
        socket.once('data', () => {
          socket.write(
            `HTTP/1.1 ${options.status ?? 200} Whatever\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n`,
          );
          const timer = setInterval(() => {
            if (socket.destroyed) return clearInterval(timer);
            // Respect backpressure: a client that stops reading must not grow this process.
            if (socket.writableLength < 1 << 20) socket.write(CHUNK);
          }, 2);
          timers.add(timer);
          socket.on('close', () => {
            clearInterval(timer);
            timers.delete(timer);
          });
        });
        socket.resume();
        break;
      }
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const target: FaultTarget = {
    kind,
    port,
    url: `http://127.0.0.1:${port}/health`,
    accepted: 0,
    get open() {
      return sockets.size;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  t.teardown(() => target.close());
  return target;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Milliseconds from sending to the end of the answer. */
  ms: number;
}

/**
 * One request over a fresh connection (no agent, so no pooling hides a dead server). Rejects on
 * a connection error, and after `timeoutMs` with an error whose code is `ETIMEDOUT_TEST`.
 */
export function httpCall(
  port: number,
  method: string,
  path: string,
  body?: unknown,
  options: { timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<HttpAnswer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string> = {
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    };
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          ms: performance.now() - started,
        });
      });
    });
    const timer = setTimeout(() => {
      req.destroy(
        Object.assign(new Error(`${method} ${path} got no answer in ${options.timeoutMs ?? 10_000} ms`), {
          code: 'ETIMEDOUT_TEST',
        }),
      );
    }, options.timeoutMs ?? 10_000);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(payload);
  });
}

/**
 * The real `konsul` command in a child process, as test/helpers/process.ts starts it, plus what
 * fault tests need around it: a file-size limit (`ulimit -f`, SIGXFSZ ignored so writes past it
 * fail with EFBIG instead of killing the process) and a choice of entry point.
 */
export interface KonsulChild {
  child: ChildProcess;
  port: number;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN_TS = join(REPO, 'src', 'main.ts');
/** `node --import tsx src/main.ts`: the command as `npm run dev` runs it. */
export const TSX_COMMAND: readonly string[] = ['--import', 'tsx', MAIN_TS];

export async function startKonsulChild(
  t: Teardown,
  env: Record<string, string>,
  options: { argv?: readonly string[]; fileSizeLimitKb?: number; openFileLimit?: number; startTimeoutMs?: number } = {},
): Promise<KonsulChild> {
  const argv = options.argv ?? TSX_COMMAND;
  const fullEnv = { ...process.env, KONSUL_PORT: '0', KONSUL_DNS_PORT: '0', KONSUL_LOG_LEVEL: 'info', ...env };
  const quoted = [process.execPath, ...argv].map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
  // Through bash, to drop NODE_OPTIONS: tap re-injects its process-info hook into every child's
  // environment. That hook costs ~0.7 s of start-up, and it installs signal-exit, which catches
  // SIGXFSZ (Node itself ignores it) and re-raises it, so under a file-size limit the child
  // would die at the first write past it instead of seeing EFBIG. `exec` keeps the pid, so
  // signals sent to child.pid reach Konsul itself.
  const limit =
    (options.fileSizeLimitKb === undefined ? '' : `trap '' XFSZ; ulimit -S -f ${options.fileSizeLimitKb}; `) +
    (options.openFileLimit === undefined ? '' : `ulimit -n ${options.openFileLimit}; `);
  const child = spawn('bash', ['-c', `unset NODE_OPTIONS; ${limit}exec ${quoted}`], {
    env: fullEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  createInterface({ input: child.stderr }).on('line', (line) => lines.push(line));
  const port = await new Promise<number>((resolve, reject) => {
    const limit = options.startTimeoutMs ?? 30_000;
    const timer = setTimeout(
      () => reject(new Error(`konsul did not start in ${limit} ms:\n${lines.join('\n')}`)),
      limit,
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      const match = /listening on http [^:]+:(\d+)/.exec(line);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`konsul exited with ${code ?? signal} before listening:\n${lines.join('\n')}`));
    });
  });
  return { child, port, lines, exited };
}

/**
 * src/main.ts bundled into one ES module (packages left external), for tests that start the
 * command many times: through the tsx loader every start transpiles and loads ~100 modules
 * (2–5 s on a busy 2-core machine); the bundle starts in well under a second. The code is the
 * same; each module keeps its own import.meta.url, so the paths derived from it (migrations,
 * the default config, package.json) resolve as they do from the sources. The bundle lives under
 * node_modules/.cache so that its imports of packages resolve, and is removed in teardown.
 */
export async function bundleKonsulCommand(t: Teardown): Promise<readonly string[]> {
  const { build } = await import('esbuild');
  mkdirSync(join(REPO, 'node_modules', '.cache'), { recursive: true });
  const outdir = mkdtempSync(join(REPO, 'node_modules', '.cache', 'konsul-hardening-'));
  t.teardown(() => rmSync(outdir, { recursive: true, force: true }));
  const outfile = join(outdir, 'main.mjs');
  await build({
    entryPoints: [MAIN_TS],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'silent',
    plugins: [
      {
        name: 'own-import-meta-url',
        setup(builder) {
          builder.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, async (args) => ({
            contents: (await readFile(args.path, 'utf8')).replaceAll(
              'import.meta.url',
              JSON.stringify(pathToFileURL(args.path).href),
            ),
            loader: 'ts',
          }));
        },
      },
    ],
  });
  return [outfile];
}

/**
 * Real things for the health tests to point checks at and to drive: an HTTP target whose
 * answer a test changes, a TCP listener, a catalog on a real SQLite file, a manager with a log
 * a test can read. Everything listens on 127.0.0.1, port 0, and closes in t.teardown.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { Catalog } from '../../src/catalog/catalog.js';
import type { Check } from '../../src/catalog/types.js';
import { SqliteStore } from '../../src/catalog/sqlite-store.js';
import type { Config } from '../../src/config/schema.js';
import { HealthManager, type HealthManagerOptions } from '../../src/health/manager.js';

/** The part of a tap test the helpers use. */
export interface TestContext {
  teardown(fn: () => unknown): void;
}

export type TargetBehaviour =
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  /** Headers sent, then nothing more: the response never ends. */
  | { kind: 'hang-mid-response' }
  /** Never answers at all. */
  | { kind: 'hang' }
  /** 200 and a body that never ends. */
  | { kind: 'endless' };

export interface HttpTarget {
  url: string;
  port: number;
  behaviour: TargetBehaviour;
  /** Requests received so far (method, url, headers). */
  requests: { method: string; url: string; headers: IncomingMessage['headers'] }[];
  /** Server-side sockets open now (they close a moment after the client's). */
  readonly openSockets: number;
  close(): Promise<void>;
}

export async function startHttpTarget(
  t: TestContext,
  behaviour: TargetBehaviour = { kind: 'status', status: 200, body: 'ok' },
): Promise<HttpTarget> {
  const open = new Set<ServerResponse>();
  const streams = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const target: HttpTarget = {
    url: '',
    port: 0,
    behaviour,
    requests: [],
    get openSockets() {
      return sockets.size;
    },
    close: async () => {
      for (const timer of streams) clearInterval(timer);
      for (const response of open) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((request, response) => {
    target.requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
    request.resume();
    open.add(response);
    response.on('close', () => open.delete(response));
    const current = target.behaviour;
    switch (current.kind) {
      case 'status':
        response.writeHead(current.status, { 'content-type': 'text/plain', ...current.headers });
        response.end(current.body ?? '');
        break;
      case 'hang-mid-response':
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.write('partial');
        break;
      case 'hang':
        break;
      case 'endless': {
        response.writeHead(200, { 'content-type': 'text/plain' });
        const chunk = 'x'.repeat(16 * 1024);
        const timer = setInterval(() => {
          if (response.destroyed) return clearInterval(timer);
          response.write(chunk);
        }, 1);
        streams.add(timer);
        response.on('close', () => {
          clearInterval(timer);
          streams.delete(timer);
        });
        break;
      }
    }
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  target.port = typeof address === 'object' && address !== null ? address.port : 0;
  target.url = `http://127.0.0.1:${target.port}/health`;
  t.teardown(() => target.close());
  return target;
}

export interface TcpListener {
  port: number;
  address: string;
  accepted: number;
  /** Accepted sockets still open (they close a moment after the client's). */
  readonly openSockets: number;
  close(): Promise<void>;
}

export async function startTcpListener(t: TestContext): Promise<TcpListener> {
  const sockets = new Set<Socket>();
  let closed = false;
  const server: TcpServer = createTcpServer((socket) => {
    listener.accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  });
  const listener: TcpListener = {
    port: 0,
    address: '',
    accepted: 0,
    get openSockets() {
      return sockets.size;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  listener.port = typeof address === 'object' && address !== null ? address.port : 0;
  listener.address = `127.0.0.1:${listener.port}`;
  t.teardown(() => listener.close());
  return listener;
}

/** A temporary directory removed in teardown (registered first, so it runs after the catalog closes). */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'konsul-health-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function openCatalog(file: string): Promise<Catalog> {
  return Catalog.open(new SqliteStore(file), { checkDefaults: { interval: '10s', timeout: '5s' } });
}

export function healthConfig(overrides: Partial<Config['health']> = {}): Config['health'] {
  return {
    enabled: true,
    maxConcurrent: 64,
    defaultInterval: '10s',
    defaultTimeout: '5s',
    defaultTtl: '30s',
    // Far below the server's defaults: these tests run checks every 50–300 ms to stay short.
    minInterval: '10ms',
    minTimeout: '10ms',
    maxChecksPerInstance: 16,
    outputBytes: 4096,
    ...overrides,
  };
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose lines (debug and up) a test can read. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) if (text !== '') lines.push(JSON.parse(text) as LogLine);
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

export interface HealthHarness {
  catalog: Catalog;
  manager: HealthManager;
  registry: Registry;
  logs: LogLine[];
  file: string;
}

/**
 * A catalog on a fresh SQLite file and a started manager on it. Teardown stops the manager,
 * then closes the catalog (one teardown, so the order is certain).
 */
export async function startHealth(
  t: TestContext,
  config: Partial<Config['health']> = {},
  extra: Pick<HealthManagerOptions, 'now' | 'random'> = {},
): Promise<HealthHarness> {
  const file = join(tempDir(t), 'konsul.db');
  const catalog = await openCatalog(file);
  const registry = new Registry();
  const { logger, lines } = captureLogger();
  const manager = new HealthManager({ catalog, config: healthConfig(config), registry, logger, ...extra });
  manager.start();
  t.teardown(async () => {
    await manager.stop();
    await catalog.close();
  });
  return { catalog, manager, registry, logs: lines, file };
}

/** Polls `read` every 10 ms until it returns something other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, read: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The check as the catalog holds it now. */
export function checkOf(catalog: Catalog, checkId: string): Check | undefined {
  return catalog.findCheck(checkId)?.check;
}

/** Waits until the check has `status` (and, when given, a note matching `note`). */
export function waitForStatus(
  catalog: Catalog,
  checkId: string,
  status: Check['status'],
  note?: RegExp,
  timeoutMs = 3000,
): Promise<Check> {
  return waitFor(
    `${checkId} to be ${status}${note === undefined ? '' : ` with a note matching ${note}`}`,
    () => {
      const check = checkOf(catalog, checkId);
      return check !== undefined && check.status === status && (note === undefined || note.test(check.note))
        ? check
        : undefined;
    },
    timeoutMs,
  );
}

export { sleep } from './wait.js';

/**
 * Real things for the health tests to point checks at and to drive: an HTTP target whose
 * answer a test changes, a TCP listener, a catalog on a real SQLite file, a manager with a log
 * a test can read, all on a virtual clock. Everything listens on 127.0.0.1, port 0, and closes
 * in t.teardown. Tests wait on events (a request at a target, a status in the catalog), never
 * on the wall clock.
 */
import { EventEmitter } from 'node:events';
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
import { seeded } from './seeded.js';
import { VirtualClock } from './virtual-clock.js';
import { until, when } from './wait.js';

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
  /** Resolves once `condition` holds, checked after each request and each socket opened or closed. */
  until(what: string, condition: () => boolean): Promise<void>;
  close(): Promise<void>;
}

export async function startHttpTarget(
  t: TestContext,
  behaviour: TargetBehaviour = { kind: 'status', status: 200, body: 'ok' },
): Promise<HttpTarget> {
  const open = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  const changes = new EventEmitter();
  const target: HttpTarget = {
    url: '',
    port: 0,
    behaviour,
    requests: [],
    get openSockets() {
      return sockets.size;
    },
    until: (what, condition) => when(what, changes, 'change', condition),
    close: async () => {
      for (const response of open) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((request, response) => {
    target.requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
    changes.emit('change');
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
        // Paced by the reader: write until the socket's buffer is full, then again on each drain.
        const pump = () => {
          while (!response.destroyed && response.write(chunk));
        };
        response.on('drain', pump);
        pump();
        break;
      }
    }
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    changes.emit('change');
    socket.on('close', () => {
      sockets.delete(socket);
      changes.emit('change');
    });
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
  /** Resolves once `condition` holds, checked after each connection accepted or closed. */
  until(what: string, condition: () => boolean): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpListener(t: TestContext): Promise<TcpListener> {
  const sockets = new Set<Socket>();
  const changes = new EventEmitter();
  let closed = false;
  const server: TcpServer = createTcpServer((socket) => {
    listener.accepted++;
    sockets.add(socket);
    changes.emit('change');
    socket.on('close', () => {
      sockets.delete(socket);
      changes.emit('change');
    });
    socket.on('error', () => socket.destroy());
  });
  const listener: TcpListener = {
    port: 0,
    address: '',
    accepted: 0,
    get openSockets() {
      return sockets.size;
    },
    until: (what, condition) => when(what, changes, 'change', condition),
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

/** A catalog on `file` whose timestamps (statusChangedAt) come from `clock`. */
export async function openCatalog(file: string, clock: VirtualClock): Promise<Catalog> {
  return Catalog.open(new SqliteStore(file), { checkDefaults: { interval: '10s', timeout: '5s' }, now: clock.now });
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
    outputSyncInterval: '5m',
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
  /** The clock of the catalog and the manager: nothing is due until the test advances it. */
  clock: VirtualClock;
}

/**
 * A catalog on a fresh SQLite file and a started manager on it, both on one virtual clock.
 * Teardown stops the manager, then closes the catalog (one teardown, so the order is certain).
 */
export async function startHealth(
  t: TestContext,
  config: Partial<Config['health']> = {},
  extra: Pick<HealthManagerOptions, 'random'> = {},
): Promise<HealthHarness> {
  const clock = new VirtualClock();
  const file = join(tempDir(t), 'konsul.db');
  const catalog = await openCatalog(file, clock);
  const registry = new Registry();
  const { logger, lines } = captureLogger();
  // Jitter from a fixed seed unless the test picks it: the same schedule on every run.
  const jitter = seeded(15);
  const random = () => jitter.next();
  const manager = new HealthManager({
    catalog,
    config: healthConfig(config),
    registry,
    logger,
    clock,
    random,
    ...extra,
  });
  manager.start();
  t.teardown(async () => {
    await manager.stop();
    await catalog.close();
  });
  return { catalog, manager, registry, logs: lines, file, clock };
}

/**
 * Moves the clock to the next timer (a planned run, a probe's timeout, a TTL or reaper
 * deadline), fires it, and waits until the runs it started have ended and their results are
 * written. Returns the time it moved to. Only for runs that end on their own: a run against a
 * target that never answers ends at its timeout, which is the next step's timer.
 */
export async function step(clock: VirtualClock, manager: HealthManager): Promise<number> {
  const at = await clock.runNext();
  await manager.settled();
  return at;
}

/** Steps until `condition` holds; fails after `maxSteps` steps, naming what never came. */
export async function stepUntil(
  clock: VirtualClock,
  manager: HealthManager,
  what: string,
  condition: () => boolean,
  maxSteps = 100,
): Promise<void> {
  for (let steps = 0; !condition(); steps++) {
    if (steps === maxSteps) throw new Error(`never happened in ${maxSteps} steps of the clock: ${what}`);
    await step(clock, manager);
  }
}

/** The check as the catalog holds it now. */
export function checkOf(catalog: Catalog, checkId: string): Check | undefined {
  return catalog.findCheck(checkId)?.check;
}

/** Resolves once `condition` holds, checked now and after each commit to the catalog. */
export function untilCatalog(what: string, catalog: Catalog, condition: () => boolean): Promise<void> {
  return until(what, (wake) => catalog.subscribe(wake), condition);
}

/** Waits until the check has `status` (and, when given, a note matching `note`): on catalog events. */
export async function waitForStatus(
  catalog: Catalog,
  checkId: string,
  status: Check['status'],
  note?: RegExp,
): Promise<Check> {
  const matches = () => {
    const check = checkOf(catalog, checkId);
    return check !== undefined && check.status === status && (note === undefined || note.test(check.note));
  };
  await untilCatalog(
    `${checkId} to be ${status}${note === undefined ? '' : ` with a note matching ${note}`}`,
    catalog,
    matches,
  );
  return checkOf(catalog, checkId)!;
}

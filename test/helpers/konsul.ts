import { Writable } from 'node:stream';
import { loadConfig, type Config, type DeepPartial } from '../../src/config/load.js';
import { createLogger } from '../../src/logger.js';
import { startKonsul, type KonsulServer, type StartOptions } from '../../src/server.js';
import { tempDir } from './catalog.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface TestKonsul extends KonsulServer {
  /** Every log line written so far. */
  logs: string[];
}

/**
 * The whole server in-process on a temp data dir and free ports, logging into memory.
 * DNS is off unless a test turns it on; the server is closed when the test ends.
 */
export async function startTestKonsul(
  t: Teardown,
  overrides: DeepPartial<Config> = {},
  options: StartOptions = {},
): Promise<TestKonsul> {
  const base: DeepPartial<Config> = {
    // A test serves a handful of routes: compiling all of them at each start would be most of its CPU.
    http: { port: 0, compileSchemas: 'first-use' },
    dns: { enabled: false, port: 0 },
    storage: { dataDir: tempDir(t) },
    log: { level: 'info' },
  };
  const merged: Record<string, unknown> = { ...base };
  for (const [section, values] of Object.entries(overrides)) {
    merged[section] = { ...(merged[section] as object | undefined), ...values };
  }
  const config = loadConfig({ env: {}, overrides: merged });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((line) => line !== ''),
      );
      done();
    },
  });
  const server = await startKonsul(config, { logger: createLogger(config.log.level, sink), ...options });
  t.teardown(() => server.close());
  return Object.assign(Object.create(server) as KonsulServer, server, { logs });
}

/** The parsed JSON body of an inject response. */
export function json<T = unknown>(response: { body: string }): T {
  return JSON.parse(response.body) as T;
}

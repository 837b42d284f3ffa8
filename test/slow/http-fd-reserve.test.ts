/**
 * The real command under a small open-file limit, flooded with more idle connections than it
 * has descriptors: http.maxConnections is lowered to fit beside the reserve (src/http/fd-budget.ts),
 * so health probes keep reaching their targets and /health/live keeps answering.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { tempDir } from '../helpers/catalog.js';
import { httpCall, startKonsulChild } from '../helpers/fault-targets.js';
import { startTcpListener } from '../helpers/health-targets.js';

const OPEN_FILE_LIMIT = 256;

/** The target counts accepted connections but emits nothing per accept: poll the count. */
async function acceptedAtLeast(target: { accepted: number }, count: number): Promise<boolean> {
  for (let tries = 0; target.accepted < count && tries < 1000; tries++)
    await new Promise((resolve) => setTimeout(resolve, 10));
  return target.accepted >= count;
}
const FLOOD = 400;

t.test(
  `${FLOOD} idle connections against a ulimit -n of ${OPEN_FILE_LIMIT}: a tcp check keeps connecting and passing, /health/live answers`,
  async (t) => {
    const dir = tempDir(t);
    const configFile = join(dir, 'konsul.json');
    writeFileSync(
      configFile,
      JSON.stringify({ dns: { enabled: false }, http: { fdReserve: 64 }, health: { maxConcurrent: 8 } }),
    );
    const konsul = await startKonsulChild(
      t,
      { KONSUL_CONFIG: configFile, KONSUL_DATA_DIR: join(dir, 'data'), KONSUL_LOG_LEVEL: 'info' },
      { openFileLimit: OPEN_FILE_LIMIT },
    );
    const target = await startTcpListener(t);
    const registered = await httpCall(konsul.port, 'PUT', '/catalog/register', {
      id: 'web-1',
      name: 'web',
      address: '127.0.0.1',
      port: target.port,
      checks: [{ type: 'tcp', tcp: target.address, interval: '100ms', timeout: '100ms' }],
    });
    t.equal(registered.status, 200);
    t.ok(await acceptedAtLeast(target, 2), 'the check reached its target before the flood');

    const flood: Socket[] = [];
    t.teardown(() => flood.forEach((socket) => socket.destroy()));
    for (let n = 0; n < FLOOD; n++) {
      const socket = connect({ host: '127.0.0.1', port: konsul.port });
      socket.on('error', () => undefined);
      flood.push(socket);
      await new Promise<void>((resolve) => {
        socket.once('connect', resolve);
        socket.once('close', resolve);
      });
    }
    const probedBefore = target.accepted;
    t.ok(await acceptedAtLeast(target, probedBefore + 5), 'probes kept reaching the target during the flood');
    const live = await httpCall(konsul.port, 'GET', '/health/live', undefined, { timeoutMs: 10_000 });
    t.equal(live.status, 200, '/health/live answered during the flood');
    const instance = await httpCall(konsul.port, 'GET', '/catalog/instances/web-1', undefined, { timeoutMs: 10_000 });
    const checks = (JSON.parse(instance.body) as { checks: { status: string; note: string }[] }).checks;
    t.equal(checks[0].status, 'passing', checks[0].note);
    t.notOk(
      konsul.lines.some((line) => line.includes('EMFILE')),
      'no EMFILE anywhere in the log',
    );
    t.ok(
      konsul.lines.some((line) => line.includes('HTTP connections at http.maxConnections')),
      'the shedding was logged',
    );
  },
);

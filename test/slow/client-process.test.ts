import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { build } from 'esbuild';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { tempDir } from '../helpers/catalog.js';
import { konsulUrl, startTargets } from '../helpers/client-fixtures.js';
import { startTestKonsul } from '../helpers/konsul.js';
import { until } from '../helpers/wait.js';
import type { TestContext } from '../helpers/health-targets.js';

const CHILD = fileURLToPath(new URL('../fixtures/client-process.ts', import.meta.url));

interface Child {
  steps: Record<string, unknown>[];
  next(step: string): Promise<Record<string, unknown>>;
  kill(signal: NodeJS.Signals): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The child bundled into one file run by plain node: no loader of its own (tsx listens for
 * SIGTERM itself, which would hide what the client does with it), and a start in well under
 * a second on a busy machine.
 */
async function startChild(t: TestContext, args: string[]): Promise<Child> {
  const outfile = join(tempDir(t), 'client-process.mjs');
  await build({
    entryPoints: [CHILD],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
  });
  // Through bash, to drop NODE_OPTIONS: tap re-injects its process-info hook into every child's
  // environment, and that hook installs signal-exit, a SIGTERM listener of its own. `exec`
  // keeps the pid, so signals sent to child.pid reach the client's process.
  const quoted = [process.execPath, outfile, ...args].map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
  const child = spawn('bash', ['-c', `unset NODE_OPTIONS; exec ${quoted}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const steps: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => steps.push(JSON.parse(line) as Record<string, unknown>));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    steps,
    exited: exited.then((result) => {
      if (result.code !== 0 && result.signal === null) throw new Error(`child failed: ${stderr.join('\n')}`);
      return result;
    }),
    kill: (signal) => child.kill(signal),
    next: async (step) => {
      await until(
        `the child reported ${step}`,
        (wake) => {
          lines.on('line', wake);
          child.on('exit', wake);
          return () => {
            lines.off('line', wake);
            child.off('exit', wake);
          };
        },
        () => steps.some((entry) => entry.step === step) || child.exitCode !== null,
      );
      const found = steps.find((entry) => entry.step === step);
      if (found === undefined) throw new Error(`the child exited before ${step}: ${stderr.join('\n')}`);
      return found;
    },
  };
}

t.test('after close() no timer or socket of the client is left, and the process ends on its own', async (t) => {
  const server = await startTestKonsul(t);
  const targets = await startTargets(t, server, 'payments', 2);
  const port = targets.byId.get('payments-1')!.port;
  const child = await startChild(t, [konsulUrl(server), String(port), 'close']);
  const ready = await child.next('ready');
  t.equal(ready.answered, 5);
  const closed = await child.next('closed');
  t.same(closed.resources, [], 'nothing keeps the event loop alive');
  t.same(await child.exited, { code: 0, signal: null }, 'the process ended by itself');
  const instance = await fetch(`${konsulUrl(server)}/catalog/instances/${String(ready.id)}`);
  t.equal(instance.status, 404, 'deregistered');
});

t.test('SIGTERM deregisters, then ends the process as SIGTERM would have', async (t) => {
  const server = await startTestKonsul(t);
  const targets = await startTargets(t, server, 'payments', 1);
  const port = targets.byId.get('payments-1')!.port;
  const child = await startChild(t, [konsulUrl(server), String(port), 'signal']);
  const ready = await child.next('ready');
  const url = `${konsulUrl(server)}/catalog/instances/${String(ready.id)}`;
  t.equal((await fetch(url)).status, 200, 'registered');
  child.kill('SIGTERM');
  t.same(await child.exited, { code: null, signal: 'SIGTERM' });
  t.equal((await fetch(url)).status, 404, 'deregistered before it ended');
});

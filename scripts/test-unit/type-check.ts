import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

export interface TypeCheckResult {
  ok: boolean;
  /** tsc's diagnostics (empty when it passes). */
  output: string;
  ms: number;
}

/**
 * `tsc --noEmit -p .`, incremental: its state file makes a re-run after a small edit re-check
 * only what the edit can affect. Started before the tests and awaited after them, it runs on
 * the CPU the test processes leave idle while they wait on sockets and timers.
 */
export function startTypeCheck(repo: string, buildInfoFile: string): Promise<TypeCheckResult> {
  const started = performance.now();
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const child = spawn(
    process.execPath,
    [tsc, '--noEmit', '-p', '.', '--incremental', '--tsBuildInfoFile', buildInfoFile, '--pretty', 'false'],
    { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => {
    const finish = (ok: boolean, extra = '') =>
      resolve({ ok, output: Buffer.concat(chunks).toString('utf8') + extra, ms: performance.now() - started });
    child.once('error', (error) => finish(false, error.message));
    child.once('close', (code) => finish(code === 0));
  });
}

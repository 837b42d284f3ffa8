import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface KonsulProcess {
  child: ChildProcess;
  port: number;
  dnsPort: number | null;
  /** Every line the process printed so far. */
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The real `konsul` command in a child process, on free ports; killed when the test ends. */
export async function startKonsulProcess(t: Teardown, env: Record<string, string>): Promise<KonsulProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, KONSUL_PORT: '0', KONSUL_DNS_PORT: '0', KONSUL_LOG_LEVEL: 'info', ...env },
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
  const started = await new Promise<{ port: number; dnsPort: number | null }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`konsul did not start in 30 s:\n${lines.join('\n')}`)), 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      const match = /listening on http [^:]+:(\d+), dns (?:[^:]+:(\d+)|disabled)/.exec(line);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ port: Number(match[1]), dnsPort: match.at(2) === undefined ? null : Number(match[2]) });
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`konsul exited with ${code} before listening:\n${lines.join('\n')}`));
    });
  });
  return { child, ...started, lines, exited };
}

/** Runs the command to completion (for start-up failures). */
export function runKonsul(
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs another benchmark script (one we do not own) in a child process, bounded in time, and keeps its output. */
import { spawn } from 'node:child_process';
import { ROOT } from './processes.js';

export interface ScriptRun {
  ok: boolean;
  exitCode: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  seconds: number;
}

export function runScript(
  script: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<ScriptRun> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let timedOut = false;
  // The script starts servers of its own: on timeout, kill its whole process group, not just it.
  const killGroup = (): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutMs);
  process.once('exit', killGroup);
  return new Promise((resolveRun) => {
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      process.off('exit', killGroup);
      // A script that exits normally may still leave a server behind (its own cleanup failing); sweep the group.
      killGroup();
      resolveRun({
        ok: exitCode === 0 && !timedOut,
        exitCode,
        timedOut,
        stdout,
        stderr,
        seconds: (Date.now() - started) / 1000,
      });
    });
  });
}

import { readFileSync } from 'node:fs';

/**
 * CPU time (user + system) a process has used so far, in microseconds, from /proc/<pid>/stat;
 * null when unreadable (not Linux, or gone). Fields 14 and 15 (utime, stime) are in clock ticks,
 * 100 per second on Linux (USER_HZ): a 5 s run at tens of thousands of requests per second uses
 * seconds of CPU, so the 10 ms tick is well under 1% of the figure.
 */
export function cpuMicros(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces; count fields after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * (1_000_000 / USER_HZ) : null;
  } catch {
    return null;
  }
}

const USER_HZ = 100;

/** Runs `work` and returns its result with the CPU microseconds `pid` spent meanwhile (null when unreadable). */
export async function withCpu<T>(
  pid: number,
  work: () => Promise<T>,
): Promise<{ result: T; cpuMicros: number | null }> {
  const before = cpuMicros(pid);
  const result = await work();
  const after = cpuMicros(pid);
  return { result, cpuMicros: before === null || after === null ? null : after - before };
}

/**
 * The calling thread's scheduler counters (/proc/thread-self/schedstat, Linux): nanoseconds on a
 * CPU and nanoseconds runnable but waiting in the run queue. The run-queue figure is exact at
 * every switch back onto a CPU; the on-CPU figure of a running thread moves only at scheduler
 * ticks (1 to 4 ms), so a stretch of work is best timed as wall time less its run-queue wait.
 */
import { openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface ThreadCounters {
  /** [ns on a CPU, ns in the run queue] of the calling thread; NaN where /proc has no schedstat. */
  readonly read: () => [onCpuNs: number, runQueueNs: number];
  /**
   * Milliseconds of a clock that stops while the thread waits for a CPU: performance.now() less
   * the run-queue time so far. Differences of it are what the thread spent working or asleep.
   * Where the counters are missing it is performance.now().
   */
  readonly ownTimeMs: () => number;
}

export function threadCounters(): ThreadCounters {
  let file: number;
  try {
    file = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    file = -1;
  }
  const buffer = Buffer.alloc(128);
  const read = (): [number, number] => {
    if (file < 0) return [Number.NaN, Number.NaN];
    const length = readSync(file, buffer, 0, buffer.length, 0);
    const fields = buffer.toString('latin1', 0, length).split(' ');
    return [Number(fields[0]), Number(fields[1])];
  };
  return {
    read,
    ownTimeMs: () => {
      const now = performance.now();
      const waited = read()[1];
      return Number.isNaN(waited) ? now : now - waited / 1e6;
    },
  };
}

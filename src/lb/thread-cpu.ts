/**
 * CPU time of the calling thread, for measuring what one synchronous step cost. process.cpuUsage
 * counts every thread of the process (V8's concurrent GC markers and JIT compilers, libuv's
 * pool), so on a busy server a 0.5 ms step could read as 7 ms; Linux's schedstat for this
 * thread counts only the thread that ran the step (the event loop). Elsewhere, process-wide.
 */
import { readFileSync } from 'node:fs';

const SCHEDSTAT = '/proc/thread-self/schedstat';
let perThread = true;

/** CPU milliseconds used so far by this thread (or, where Linux's schedstat is missing, by the process). */
export function threadCpuMs(): number {
  if (perThread) {
    try {
      // "<ns on cpu> <ns waiting> <timeslices>"
      const text = readFileSync(SCHEDSTAT, 'latin1');
      return Number(text.slice(0, text.indexOf(' '))) / 1e6;
    } catch {
      perThread = false;
    }
  }
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/**
 * Loaded into a Konsul process by a benchmark (`node --import tsx --import bench/lib/stall-probe.ts`,
 * startKonsul's `stallProbe` option), never by Konsul itself: it tells how much of each event-loop
 * stall the server spent working and how much it waited for a CPU.
 *
 * A timer every TICK_MS reads the main thread's scheduler counters (/proc/thread-self/schedstat:
 * nanoseconds on a CPU, nanoseconds runnable but waiting in the run queue). Between two ticks the
 * loop was blocked for the gap beyond TICK_MS. The time of it in the run queue (runnable, but the
 * kernel ran something else: on two cores shared with the load generator) is the machine's; the
 * rest is the server's own: work on a CPU (requests, commits, garbage collection) and blocking
 * system calls (a commit's fsync), during which the timer could not run either.
 *
 * The benchmark asks over the IPC channel: `reset` starts a phase, `read` answers its longest gap
 * and its longest stall of its own, with their parts. The counters are Linux's; elsewhere the parts
 * are NaN and a stall of its own is the whole gap.
 */
import { threadCounters } from './schedstat.js';

const TICK_MS = 1;

export interface StallReading {
  /** Longest time between two ticks beyond TICK_MS: what monitorEventLoopDelay would see at this resolution. */
  longestGapMs: number;
  /** Of the longest gap: the time in the run queue. */
  longestGapRunQueueMs: number;
  /**
   * The longest stall of the server's own: a gap less its time in the run queue, i.e. its work
   * on a CPU plus any blocking system call (a commit's fsync); then the parts of that tick.
   */
  longestOwnMs: number;
  longestOwnOnCpuMs: number;
  longestOwnAsleepMs: number;
  longestOwnRunQueueMs: number;
  ticks: number;
}

export interface StallProbeRequest {
  stallProbe: 'reset' | 'read';
}

export interface StallProbeReply {
  stallProbe: 'reading';
  reading: StallReading;
}

function empty(): StallReading {
  return {
    longestGapMs: 0,
    longestGapRunQueueMs: 0,
    longestOwnMs: 0,
    longestOwnOnCpuMs: 0,
    longestOwnAsleepMs: 0,
    longestOwnRunQueueMs: 0,
    ticks: 0,
  };
}

function start(): void {
  const counters = threadCounters().read;

  let reading = empty();
  let last = performance.now();
  let [lastRun, lastWait] = counters();
  setInterval(() => {
    const now = performance.now();
    const [run, wait] = counters();
    const elapsedMs = now - last;
    const gapMs = Math.max(0, elapsedMs - TICK_MS);
    const onCpuMs = (run - lastRun) / 1e6;
    const runQueueMs = (wait - lastWait) / 1e6;
    // Without the counters every gap counts as the server's own: nothing says it waited.
    const ownMs = Number.isNaN(runQueueMs) ? gapMs : Math.max(0, gapMs - runQueueMs);
    reading.ticks++;
    if (gapMs > reading.longestGapMs) {
      reading.longestGapMs = gapMs;
      reading.longestGapRunQueueMs = runQueueMs;
    }
    if (ownMs > reading.longestOwnMs) {
      reading.longestOwnMs = ownMs;
      reading.longestOwnOnCpuMs = onCpuMs;
      reading.longestOwnAsleepMs = Math.max(0, elapsedMs - onCpuMs - runQueueMs);
      reading.longestOwnRunQueueMs = runQueueMs;
    }
    last = now;
    lastRun = run;
    lastWait = wait;
  }, TICK_MS).unref();

  process.on('message', (message: unknown) => {
    const question = (message as Partial<StallProbeRequest> | null)?.stallProbe;
    if (question === 'reset') reading = empty();
    if (question === 'reset' || question === 'read')
      process.send?.({ stallProbe: 'reading', reading } satisfies StallProbeReply);
  });
  // The channel must not keep a server that was told to stop alive.
  process.channel?.unref();
}

if (process.send !== undefined) start();

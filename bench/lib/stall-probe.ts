/**
 * Loaded into a Konsul process by a benchmark (`node --import tsx --import bench/lib/stall-probe.ts`,
 * startKonsul's `stallProbe` option), never by Konsul itself: it tells how much of each event-loop
 * stall the server spent working and how much it waited for a CPU.
 *
 * A timer every TICK_MS reads the main thread's scheduler counters (/proc/thread-self/schedstat:
 * nanoseconds runnable but waiting in the run queue) and the loop's idle time
 * (performance.eventLoopUtilization(): time spent waiting in the poll for I/O or a timer). Between
 * two ticks the loop was blocked for the gap beyond TICK_MS. Two parts of a gap are not the
 * server's: the time in the run queue (runnable, but the kernel ran something else: on two cores
 * shared with the load generator), and the time the loop sat idle in the poll past the tick, with
 * nothing to do (a timer woken late by the VM: up to about 3 ms in an idle server here, which a request
 * arriving would have cut short). A stall of the server's own is therefore at most the gap less
 * its run-queue wait, and at most the loop's busy time in the interval (outside the poll: requests,
 * commits, garbage collection, blocking system calls); it is the smaller of the two.
 *
 * The benchmark asks over the IPC channel: `reset` starts a phase, `read` answers its longest gap
 * and its longest stall of its own, with their parts, the garbage-collection pauses within it, and
 * when it began (so the benchmark can tell which of its requests it fell in). The counters are
 * Linux's; elsewhere the run-queue figures are NaN and a stall of its own is the smaller of the gap
 * and the busy time.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { threadCounters } from './schedstat.js';

const TICK_MS = 1;
/** Garbage-collection pauses remembered, newest last: far more than a phase's longest stall can overlap. */
const GC_PAUSES_KEPT = 256;

export interface StallReading {
  /** Longest time between two ticks beyond TICK_MS: what monitorEventLoopDelay would see at this resolution. */
  longestGapMs: number;
  /** Of the longest gap: the time in the run queue. */
  longestGapRunQueueMs: number;
  /**
   * The longest stall of the server's own: the smaller of a gap less its time in the run queue
   * and the loop's busy time between the two ticks; then the parts of that tick's interval.
   */
  longestOwnMs: number;
  /** Of that interval (the stall and the tick): the loop busy, outside the poll. */
  longestOwnBusyMs: number;
  /** Of that interval: the loop idle in the poll. Busy and idle add up to the interval. */
  longestOwnIdleMs: number;
  /** Of that interval: the main thread runnable but waiting for a CPU (in either part). */
  longestOwnRunQueueMs: number;
  /** Of that interval: garbage-collection pauses (PerformanceObserver 'gc' entries overlapping it). */
  longestOwnGcMs: number;
  /** When that interval began, in epoch milliseconds (performance.timeOrigin based), to match it to a request. */
  longestOwnAtMs: number;
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
    longestOwnBusyMs: 0,
    longestOwnIdleMs: 0,
    longestOwnRunQueueMs: 0,
    longestOwnGcMs: 0,
    longestOwnAtMs: 0,
    ticks: 0,
  };
}

/** Milliseconds of the pauses in `pauses` that fall within [from, to] (performance.now() time). */
function pausedWithin(pauses: readonly { start: number; end: number }[], from: number, to: number): number {
  let total = 0;
  for (const pause of pauses) total += Math.max(0, Math.min(to, pause.end) - Math.max(from, pause.start));
  return total;
}

function start(): void {
  const counters = threadCounters().read;
  // Entries arrive after the pause, so the overlap with the longest stall is worked out when asked.
  const pauses: { start: number; end: number }[] = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      pauses.push({ start: entry.startTime, end: entry.startTime + entry.duration });
      if (pauses.length > GC_PAUSES_KEPT) pauses.shift();
    }
  }).observe({ entryTypes: ['gc'] });
  let longestFrom = 0;
  let longestTo = 0;

  let reading = empty();
  let last = performance.now();
  let lastIdle = performance.eventLoopUtilization().idle;
  let lastWait = counters()[1];
  setInterval(() => {
    const now = performance.now();
    const idle = performance.eventLoopUtilization().idle;
    const wait = counters()[1];
    const elapsedMs = now - last;
    const gapMs = Math.max(0, elapsedMs - TICK_MS);
    const idleMs = Math.min(elapsedMs, idle - lastIdle);
    const busyMs = elapsedMs - idleMs;
    const runQueueMs = (wait - lastWait) / 1e6;
    // Without the counters nothing says the loop waited for a CPU: the gap and the busy time bound it.
    const ownMs = Math.max(0, Math.min(Number.isNaN(runQueueMs) ? gapMs : gapMs - runQueueMs, busyMs));
    reading.ticks++;
    if (gapMs > reading.longestGapMs) {
      reading.longestGapMs = gapMs;
      reading.longestGapRunQueueMs = runQueueMs;
    }
    if (ownMs > reading.longestOwnMs) {
      reading.longestOwnMs = ownMs;
      reading.longestOwnBusyMs = busyMs;
      reading.longestOwnIdleMs = idleMs;
      reading.longestOwnRunQueueMs = runQueueMs;
      reading.longestOwnAtMs = performance.timeOrigin + last;
      longestFrom = last;
      longestTo = now;
    }
    last = now;
    lastIdle = idle;
    lastWait = wait;
  }, TICK_MS).unref();

  process.on('message', (message: unknown) => {
    const question = (message as Partial<StallProbeRequest> | null)?.stallProbe;
    if (question === 'reset') {
      reading = empty();
      longestFrom = longestTo = 0;
    }
    if (question === 'reset' || question === 'read') {
      reading.longestOwnGcMs = pausedWithin(pauses, longestFrom, longestTo);
      process.send?.({ stallProbe: 'reading', reading } satisfies StallProbeReply);
    }
  });
  // The channel must not keep a server that was told to stop alive.
  process.channel?.unref();
}

if (process.send !== undefined) start();

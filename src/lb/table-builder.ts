/**
 * Builds rings and Maglev tables off the request path, a slice at a time.
 *
 * A build is a BuildTask: an explicit state machine whose work(budget) runs until about
 * `budget` units are spent (a unit is one Maglev slot probe or a quarter of a ring point
 * hashed, 25–100 ns here) and can be resumed. A slice runs builds until `sliceWork`
 * units are spent or `sliceTimeMs` has passed, whichever comes first, then hands the event
 * loop back (setImmediate: after pending I/O, so DNS and HTTP answers interleave with a
 * build). The work bound makes a slice cheap on a quiet machine; the time bound, checked every
 * TIME_CHECK_UNITS, keeps it short on a loaded one, where the same units took 3 to 7 ms of CPU
 * (a slower core, other processes' caches, GC landing mid-slice).
 * A build of at most INLINE_SLICES slices is run inline instead (well under a millisecond
 * for the ring of a ten-instance service), so small services never see a table-less moment.
 *
 * Queued builds are bounded (`maxPending`); a queued, not yet started build for the same
 * group (table kind + service) is replaced by a newer one, since the catalog has moved
 * on. A started build always finishes, so alternating requests cannot starve each other.
 */
import { performance } from 'node:perf_hooks';

/**
 * How far a task may run past its budget: its smallest indivisible step (a ring's bucket
 * prefix sum, a chunk of the Maglev owner copy) costs at most this many units.
 */
export const TASK_OVERSHOOT = 1024;
/** Builds estimated at up to this many slices of work run inline, on the query that needs them. */
export const INLINE_SLICES = 2;
/** Work units between two looks at the time within a slice (with TASK_OVERSHOOT, about 50–200 µs). */
export const TIME_CHECK_UNITS = 1024;

export interface TableBuilderOptions {
  /** Wall time after which a slice ends even short of sliceWork units; Infinity for none. */
  sliceTimeMs: number;
  /** Monotonic milliseconds; performance.now by default (tests pass their own). */
  now?: () => number;
  /**
   * Milliseconds of CPU time for longestSliceCpuMs; process.cpuUsage by default, which counts
   * every thread of the process. A benchmark passes a clock of the building thread alone.
   */
  cpuClock?: () => number;
}

export interface BuildTask<T> {
  /** Works until about `budget` units are spent or the table is done; returns the units spent. */
  work(budget: number): number;
  /** The finished table; undefined until work() has completed it. */
  readonly result: T | undefined;
}

interface Job {
  readonly key: string;
  readonly group: string;
  readonly start: () => BuildTask<unknown>;
  readonly done: (value: unknown) => void;
  task: BuildTask<unknown> | undefined;
}

export interface BuilderStats {
  /** Builds waiting or running. */
  pending: number;
  /** Slices run since start: each one returned the event loop after at most sliceWork units. */
  slices: number;
  /** Most units one slice spent: at most sliceWork + TASK_OVERSHOOT. */
  largestSlice: number;
  /** Slices ended by the time bound before sliceWork units were spent. */
  timeBoundSlices: number;
  /** Builds not queued because maxPending were already waiting. */
  refused: number;
  /** Wall time of the longest slice, in milliseconds (time the OS ran something else included). */
  longestSliceMs: number;
  /**
   * CPU time of the costliest slice, in milliseconds, by options.cpuClock (by default
   * process.cpuUsage: what the slice cost, plus whatever V8's GC and compiler threads did
   * meanwhile; Node 20 has no per-thread clock).
   */
  longestSliceCpuMs: number;
}

export class TableBuilder {
  private readonly jobs = new Map<string, Job>();
  private readonly byGroup = new Map<string, Job>();
  private scheduled: NodeJS.Immediate | undefined = undefined;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  slices = 0;
  largestSlice = 0;
  timeBoundSlices = 0;
  refused = 0;
  longestSliceMs = 0;
  longestSliceCpuMs = 0;
  readonly sliceTimeMs: number;
  private readonly now: () => number;
  private readonly cpuClock: () => number;

  constructor(
    readonly sliceWork: number,
    readonly maxPending: number,
    options: TableBuilderOptions = { sliceTimeMs: Number.POSITIVE_INFINITY },
  ) {
    this.sliceTimeMs = options.sliceTimeMs;
    this.now = options.now ?? (() => performance.now());
    this.cpuClock = options.cpuClock ?? processCpuMs;
  }

  /** True while a build for `key` is queued or running. */
  has(key: string): boolean {
    return this.jobs.has(key);
  }

  /**
   * Runs `start()` to completion now when `estimate` fits in INLINE_SLICES slices and returns its
   * value; otherwise queues it (done() receives the value later) and returns undefined.
   */
  build<T>(
    key: string,
    group: string,
    estimate: number,
    start: () => BuildTask<T>,
    done: (value: T) => void,
  ): T | undefined {
    if (estimate <= this.sliceWork * INLINE_SLICES) {
      const value = runToEnd(start());
      done(value);
      return value;
    }
    if (this.closed || this.jobs.has(key)) return undefined;
    const superseded = this.byGroup.get(group);
    if (superseded !== undefined && superseded.task === undefined) this.drop(superseded);
    if (this.jobs.size >= this.maxPending) {
      this.refused++;
      return undefined;
    }
    const job: Job = { key, group, start, done: done as (value: unknown) => void, task: undefined };
    this.jobs.set(key, job);
    this.byGroup.set(group, job);
    this.scheduleAfterPoll();
    return undefined;
  }

  /** Resolves once no build is queued or running (tests, shutdown). */
  idle(): Promise<void> {
    if (this.jobs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stats(): BuilderStats {
    return {
      pending: this.jobs.size,
      slices: this.slices,
      largestSlice: this.largestSlice,
      timeBoundSlices: this.timeBoundSlices,
      refused: this.refused,
      longestSliceMs: this.longestSliceMs,
      longestSliceCpuMs: this.longestSliceCpuMs,
    };
  }

  /** Drops every queued build and stops scheduling. */
  close(): void {
    this.closed = true;
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.jobs.clear();
    this.byGroup.clear();
    this.wakeIdle();
  }

  /** The next slice, after the I/O that is ready by then: slice() runs in the check phase. */
  private schedule(): void {
    if (this.scheduled !== undefined || this.closed) return;
    this.scheduled = setImmediate(() => this.slice());
  }

  /**
   * The first slice of a build that build() queued, one loop turn later than schedule() would run
   * it. build() is called while a query is answered, in the poll phase; an immediate set there
   * runs in the check phase right after it, so the query and a slice would hold the loop back to
   * back (2 + 1 ms on a first query here) and a DNS query that arrived meanwhile would wait for
   * both. Set from the check phase, an immediate runs after the next poll phase.
   */
  private scheduleAfterPoll(): void {
    if (this.scheduled !== undefined || this.closed) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      this.schedule();
    });
  }

  private slice(): void {
    const started = this.now();
    const cpu = this.cpuClock();
    this.scheduled = undefined;
    this.slices++;
    let spent = 0;
    let timeUp = false;
    while (spent < this.sliceWork) {
      if (this.now() - started >= this.sliceTimeMs) {
        timeUp = true;
        break;
      }
      const job = this.jobs.values().next().value;
      if (job === undefined) break;
      job.task ??= job.start();
      const used = job.task.work(Math.min(this.sliceWork - spent, TIME_CHECK_UNITS));
      spent += used;
      const result = job.task.result;
      if (result !== undefined) {
        this.drop(job);
        job.done(result);
      } else if (used === 0) {
        break;
      }
    }
    if (timeUp) this.timeBoundSlices++;
    if (spent > this.largestSlice) this.largestSlice = spent;
    const took = this.now() - started;
    if (took > this.longestSliceMs) this.longestSliceMs = took;
    const cpuMs = this.cpuClock() - cpu;
    if (cpuMs > this.longestSliceCpuMs) this.longestSliceCpuMs = cpuMs;
    if (this.jobs.size > 0) this.schedule();
    else this.wakeIdle();
  }

  private drop(job: Job): void {
    this.jobs.delete(job.key);
    if (this.byGroup.get(job.group) === job) this.byGroup.delete(job.group);
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }
}

function processCpuMs(): number {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
}

/** Runs a build to completion on the spot (inline builds, tests, tools). */
export function runToEnd<T>(task: BuildTask<T>): T {
  for (;;) {
    task.work(Number.MAX_SAFE_INTEGER);
    if (task.result !== undefined) return task.result;
  }
}

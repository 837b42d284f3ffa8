/**
 * CPU per call of several kinds of call made in the same rounds, call by call in turn, with
 * garbage collections charged by the bytes each kind allocates rather than to the call a
 * collection happened to fall in.
 *
 * Why: in a process that runs undici's fetch, a scavenge of some 5 ms comes every few hundred
 * calls and a full collection of 15–30 ms every few thousand. Charged where it falls, one of
 * them moves a round's mean of a thousand calls by 5 to 30 µs, while what is measured here is a
 * few µs: over 60,000 calls a side, calls over 1 ms were 746 on one side and 677 on the other,
 * which alone moved the difference of means by 7 µs. What a kind of call costs in collections
 * is what it allocates (a scavenge comes when the young generation is full), so:
 *  - each call's CPU (process.cpuUsage(), every thread) and heap growth (used heap size) are read
 *    around it, and V8's collections are heard with their start times (a PerformanceObserver);
 *  - a call with no collection in it is clean: its CPU is the call's own, its heap growth the
 *    bytes it allocated. Except a call over STALL_US (five times a typical call here) without a
 *    collection: the thread was kept off a CPU or the kernel did something else in its time,
 *    which is no kind's cost; such calls (none in most runs here) are left out of the means and
 *    counted (bench/client.ts prints the counts), so a kind that had more of them would show;
 *  - a call with one is not: its CPU beyond its kind's clean mean in that round is collection
 *    CPU. All of it, over all kinds and rounds, divided by all the bytes allocated (each kind's
 *    clean mean times its calls), is the collection CPU per byte;
 *  - a kind's CPU per call in a round is its clean mean plus its bytes per call times that rate.
 * The kinds take turns in a random order each turn (a seeded one: reruns make the same order),
 * so each kind follows each other kind, and itself, as often as any: a call after one of its own
 * kind was measured 2 µs cheaper than after another (warm caches), which a fixed rotation would
 * give to some kinds more than to others.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { createSeededRandom } from '../../src/lb/seeded-random.js';

export type Call = () => Promise<Response>;

/** A call over this much CPU with no collection in it was interrupted, not expensive (µs). */
export const STALL_US = 1000;

export interface KindRounds {
  /** Per round: clean mean CPU plus collections charged by bytes (µs per call). */
  charged: number[];
  /** Per round: mean CPU of every call, collections where they fell (µs per call). */
  asFallen: number[];
  /** Mean over rounds of the clean mean CPU (µs per call). */
  clean: number;
  /** Mean over rounds of the bytes allocated per clean call. */
  bytes: number;
  /** Calls that had a collection in them, and calls over STALL_US without one (left out), of all calls. */
  collected: number;
  stalled: number;
  calls: number;
}

export interface InterleavedResult {
  kinds: KindRounds[];
  /** Collection CPU per byte allocated (µs per KB), the rate every kind is charged at. */
  usPerKb: number;
}

interface RoundOfKind {
  cleanCpu: number;
  cleanBytes: number;
  cleanCalls: number;
  allCpu: number;
  /** CPU of the calls with a collection in them, and how many. */
  collectedCpu: number;
  collectedCalls: number;
  stalledCalls: number;
  calls: number;
}

/** Shuffles `order` in place (Fisher–Yates). */
function shuffle(order: number[], random: () => number): number[] {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Start times (performance.now()) of the collections heard so far, in order. */
class Collections {
  readonly starts: number[] = [];
  private readonly observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind !== undefined && kind !== constants.NODE_PERFORMANCE_GC_WEAKCB) this.starts.push(entry.startTime);
    }
  });

  constructor() {
    this.observer.observe({ entryTypes: ['gc'] });
  }

  /**
   * Entries are delivered after the fact, two turns of the loop late (Node queues the entry
   * after the collection, then the observers' callback): two turns let the last ones in.
   */
  async settle(): Promise<void> {
    for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
  }

  close(): void {
    this.observer.disconnect();
  }
}

/**
 * `rounds` rounds of `calls` calls of each kind, the kinds taking turns call by call (bodies
 * read). `onRound` is told after each round (progress).
 */
export async function interleavedCalls(
  kinds: readonly Call[],
  rounds: number,
  calls: number,
  onRound?: (round: number) => void,
): Promise<InterleavedResult> {
  const random = createSeededRandom(0x5eed);
  const order = kinds.map((_, kind) => kind);
  const collections = new Collections();
  const perRound: RoundOfKind[][] = kinds.map(() => []);
  // Per call of a round: its kind's index, CPU, heap growth, start and end times.
  const total = calls * kinds.length;
  const kindOf = new Uint8Array(total);
  const cpu = new Float64Array(total);
  const grown = new Float64Array(total);
  const starts = new Float64Array(total);
  const ends = new Float64Array(total);
  try {
    for (let round = 0; round < rounds; round++) {
      let at = 0;
      for (let i = 0; i < calls; i++) {
        for (const kind of shuffle(order, random)) {
          const call = kinds[kind];
          const heapBefore = getHeapStatistics().used_heap_size;
          starts[at] = performance.now();
          const before = process.cpuUsage();
          await (await call()).arrayBuffer();
          const used = process.cpuUsage(before);
          ends[at] = performance.now();
          grown[at] = getHeapStatistics().used_heap_size - heapBefore;
          cpu[at] = used.user + used.system;
          kindOf[at] = kind;
          at++;
        }
      }
      await collections.settle();
      const inCall = markCollected(collections.starts, starts, ends, total);
      collections.starts.length = 0;
      for (let kind = 0; kind < kinds.length; kind++)
        perRound[kind].push(summarizeRound(kind, kindOf, cpu, grown, inCall));
      onRound?.(round + 1);
    }
  } finally {
    collections.close();
  }
  return charge(perRound);
}

/** Which calls had a collection start within them (starts and ends ascending, calls back to back). */
function markCollected(
  collectionStarts: number[],
  starts: Float64Array,
  ends: Float64Array,
  total: number,
): Uint8Array {
  const collected = new Uint8Array(total);
  let call = 0;
  for (const at of collectionStarts) {
    while (call < total && ends[call] < at) call++;
    if (call < total && starts[call] <= at) collected[call] = 1;
  }
  return collected;
}

function summarizeRound(
  kind: number,
  kindOf: Uint8Array,
  cpu: Float64Array,
  grown: Float64Array,
  collected: Uint8Array,
): RoundOfKind {
  const round: RoundOfKind = {
    cleanCpu: 0,
    cleanBytes: 0,
    cleanCalls: 0,
    allCpu: 0,
    collectedCpu: 0,
    collectedCalls: 0,
    stalledCalls: 0,
    calls: 0,
  };
  for (let at = 0; at < kindOf.length; at++) {
    if (kindOf[at] !== kind) continue;
    round.calls++;
    round.allCpu += cpu[at];
    if (collected[at] === 1) {
      round.collectedCpu += cpu[at];
      round.collectedCalls++;
    } else {
      round.cleanCpu += cpu[at];
      round.cleanBytes += grown[at];
      round.cleanCalls++;
    }
  }
  return round;
}

function charge(perRound: RoundOfKind[][]): InterleavedResult {
  let collectionCpu = 0;
  let bytes = 0;
  for (const rounds of perRound) {
    for (const round of rounds) {
      const cleanMean = round.cleanCpu / round.cleanCalls;
      collectionCpu += round.collectedCpu - round.collectedCalls * cleanMean;
      bytes += (round.cleanBytes / round.cleanCalls) * round.calls;
    }
  }
  const perByte = bytes > 0 ? collectionCpu / bytes : 0;
  const kinds = perRound.map((rounds): KindRounds => {
    const cleanMeans = rounds.map((round) => round.cleanCpu / round.cleanCalls);
    const bytesPerCall = rounds.map((round) => round.cleanBytes / round.cleanCalls);
    const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
    return {
      charged: rounds.map((_, i) => cleanMeans[i] + bytesPerCall[i] * perByte),
      asFallen: rounds.map((round) => round.allCpu / round.calls),
      clean: mean(cleanMeans),
      bytes: mean(bytesPerCall),
      collected: rounds.reduce((sum, round) => sum + round.collectedCalls, 0),
      stalled: rounds.reduce((sum, round) => sum + round.stalledCalls, 0),
      calls: rounds.reduce((sum, round) => sum + round.calls, 0),
    };
  });
  return { kinds, usPerKb: perByte * 1024 };
}

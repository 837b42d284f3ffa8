/**
 * Loaded into a Konsul process by a benchmark (`node --expose-gc --import tsx --import
 * bench/lib/heap-probe.ts src/main.ts`, with an IPC channel), never by Konsul itself: on
 * `{ heapProbe: 'collect' }` it runs full garbage collections and answers the heap still in use,
 * so that two moments can be compared by what is live rather than by what the collector had not
 * reached yet (RSS, and the heap between collections, both also hold garbage and free pages).
 */

export interface HeapProbeRequest {
  heapProbe: 'collect';
}

export interface HeapProbeReply {
  heapProbe: 'collected';
  /** process.memoryUsage().heapUsed after the collections, in bytes. */
  heapUsed: number;
}

/** Weak references and finalizers can free more on a second pass. */
const PASSES = 2;

function start(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('bench/lib/heap-probe.ts needs node --expose-gc');
  process.on('message', (message: unknown) => {
    if ((message as Partial<HeapProbeRequest> | null)?.heapProbe !== 'collect') return;
    for (let pass = 0; pass < PASSES; pass++) collect();
    process.send?.({ heapProbe: 'collected', heapUsed: process.memoryUsage().heapUsed } satisfies HeapProbeReply);
  });
  // The channel must not keep a server that was told to stop alive.
  process.channel?.unref();
}

if (process.send !== undefined) start();

import type { Socket } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type { Catalog } from '../catalog/catalog.js';
import { parseDuration } from '../duration.js';

export interface BlockingSettings {
  defaultWaitMs: number;
  maxWaitMs: number;
  /** Jitter source, injectable for tests. */
  random?: () => number;
}

/** Whether the read asks to wait (`?index=N`, N > 0). */
export function isBlocking<Q extends { index?: number }>(query: Q): query is Q & { index: number } {
  return query.index !== undefined && query.index !== 0;
}

/**
 * Holds a read with `?index=N` until the index of what it reads passes N or the wait ends, as
 * Consul's blocking queries do. Up to wait/16 of jitter spreads the reconnects of many
 * watchers that started together. A client that hangs up releases its place at once.
 */
export async function waitIfBlocking(
  request: FastifyRequest,
  catalog: Catalog,
  name: string | undefined,
  query: { index?: number; wait?: string },
  settings: BlockingSettings,
): Promise<void> {
  if (!isBlocking(query)) return;
  const asked =
    query.wait === undefined ? settings.defaultWaitMs : (parseDuration(query.wait) ?? settings.defaultWaitMs);
  const wait = Math.min(asked, settings.maxWaitMs);
  const timeout = wait + Math.floor((settings.random ?? Math.random)() * (wait / 16));
  const abort = new AbortController();
  const onClose = () => abort.abort();
  request.raw.once('close', onClose);
  const idleMs = suspendIdleTimeout(request);
  try {
    await catalog.waitForChange(name, query.index, timeout, abort.signal);
  } finally {
    request.raw.off('close', onClose);
    resumeIdleTimeout(request, idleMs);
  }
}

/**
 * http.idleTimeout is for clients that stop reading an answer; a blocking query sends nothing
 * until the index moves, for up to blocking.maxWait, so its wait is exempt (the wait is bounded
 * on its own). Injected requests have no real socket.
 */
function suspendIdleTimeout(request: FastifyRequest): number {
  const socket = request.raw.socket as Socket | undefined;
  if (typeof socket?.setTimeout !== 'function') return 0;
  const idleMs = socket.timeout ?? 0;
  if (idleMs > 0) socket.setTimeout(0);
  return idleMs;
}

function resumeIdleTimeout(request: FastifyRequest, idleMs: number): void {
  const socket = request.raw.socket as Socket | undefined;
  if (idleMs > 0 && socket !== undefined && !socket.destroyed) socket.setTimeout(idleMs);
}

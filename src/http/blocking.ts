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
  try {
    await catalog.waitForChange(name, query.index, timeout, abort.signal);
  } finally {
    request.raw.off('close', onClose);
  }
}

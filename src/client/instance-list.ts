/**
 * Turns a catalog answer into the Instance list the strategies order. The body comes from the
 * network, so it is checked field by field: an entry that is not an instance is dropped (and
 * counted) rather than trusted. The catalog query answers without checks and indexes; the
 * strategies read neither.
 */
import type { HealthStatus, Instance } from '../catalog/types.js';

const STATUSES: ReadonlySet<string> = new Set<HealthStatus>(['passing', 'warning', 'critical']);

export interface ParsedInstances {
  /** Sorted by id, frozen: the manager keys its per-list caches on the array. */
  instances: readonly Instance[];
  dropped: number;
}

export function parseInstances(body: unknown): ParsedInstances | undefined {
  if (!Array.isArray(body)) return undefined;
  const instances: Instance[] = [];
  let dropped = 0;
  for (const entry of body as unknown[]) {
    const instance = toInstance(entry);
    if (instance === undefined) dropped++;
    else instances.push(instance);
  }
  instances.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { instances: Object.freeze(instances), dropped };
}

function toInstance(entry: unknown): Instance | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as Record<string, unknown>;
  const { id, name, address, port, weight, status } = e;
  if (typeof id !== 'string' || id === '' || typeof name !== 'string' || typeof address !== 'string') return undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  if (typeof status !== 'string' || !STATUSES.has(status)) return undefined;
  const tags = Array.isArray(e.tags)
    ? (e.tags as unknown[]).filter((tag): tag is string => typeof tag === 'string')
    : [];
  const meta: Record<string, string> = {};
  if (typeof e.meta === 'object' && e.meta !== null) {
    for (const [key, value] of Object.entries(e.meta)) if (typeof value === 'string') meta[key] = value;
  }
  return {
    id,
    name,
    address,
    port,
    tags,
    meta,
    weight: typeof weight === 'number' && Number.isFinite(weight) ? weight : 1,
    region: typeof e.region === 'string' ? e.region : null,
    zone: typeof e.zone === 'string' ? e.zone : null,
    status: status as HealthStatus,
    checks: [],
    createIndex: 0,
    modifyIndex: 0,
  };
}

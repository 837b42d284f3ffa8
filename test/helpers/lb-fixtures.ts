/** Instance fixtures and a default lb config for the load-balancing tests. */
import type { HealthStatus, Instance } from '../../src/catalog/types.js';
import { loadConfig } from '../../src/config/load.js';
import type { Candidates, LbConfig } from '../../src/lb/types.js';

/** The lb section of konsul.config.json, read once per process rather than once per config built. */
const SHIPPED_LB = loadConfig({ env: {} }).lb;

/** The shipped lb defaults, with every table built inline unless a test says otherwise; a fresh copy each call. */
export function lbConfig(overrides: Partial<LbConfig> = {}): LbConfig {
  return {
    ...structuredClone(SHIPPED_LB),
    // Large enough that every table builds inline: these tests check what tables contain.
    // Sliced builds (the production default, 8192) are specified in lb-table-builder.test.ts
    // and lb-tables.test.ts, which set it explicitly.
    buildSliceWork: 100_000_000,
    buildSliceTime: '1h',
    ...overrides,
  };
}

export interface InstanceSpec {
  id: string;
  weight?: number;
  status?: HealthStatus;
  region?: string | null;
}

export function instance(spec: InstanceSpec): Instance {
  return {
    id: spec.id,
    name: 'web',
    address: '10.0.0.1',
    port: 8080,
    tags: [],
    meta: {},
    weight: spec.weight ?? 1,
    region: spec.region ?? null,
    zone: null,
    status: spec.status ?? 'passing',
    checks: [],
    createIndex: 1,
    modifyIndex: 1,
  };
}

/** Instances "web-00" … sorted by id, as the catalog hands them over. */
export function instances(count: number, spec: Omit<InstanceSpec, 'id'> = {}): Instance[] {
  const width = String(count - 1).length;
  return Array.from({ length: count }, (_, i) => instance({ ...spec, id: `web-${String(i).padStart(width, '0')}` }));
}

export function candidates(
  list: readonly Instance[],
  key = `web@1|${list.map((i) => `${i.id}:${i.weight}:${i.status}`).join(',')}`,
  service = 'web',
): Candidates {
  return { key, service, instances: [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
}

export function ids(list: readonly Instance[]): string[] {
  return list.map((i) => i.id);
}

/** Pearson's chi-square statistic of observed counts against expected counts. */
export function chiSquare(observed: readonly number[], expected: readonly number[]): number {
  let statistic = 0;
  for (let i = 0; i < observed.length; i++) statistic += (observed[i] - expected[i]) ** 2 / expected[i];
  return statistic;
}

/** The first instance id each key maps to, for hash-consistency tests. */
export function firstChoices(
  order: (list: readonly Instance[], key: string) => readonly Instance[],
  list: readonly Instance[],
  keys: readonly string[],
): string[] {
  return keys.map((key) => order(list, key)[0].id);
}

export function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}

/** How keys moved between two assignments: to `added`, away from `removed`, and between instances present in both. */
export function movement(
  before: readonly string[],
  after: readonly string[],
  change: { added?: string; removed?: string },
) {
  let toAdded = 0;
  let fromRemoved = 0;
  let between = 0;
  for (let i = 0; i < before.length; i++) {
    if (before[i] === after[i]) continue;
    if (after[i] === change.added) toAdded++;
    else if (before[i] === change.removed) fromRemoved++;
    else between++;
  }
  return { toAdded, fromRemoved, between };
}

export function keys(count: number, prefix = 'user'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}

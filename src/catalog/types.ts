/** The shapes the catalog stores and serves. Faces translate to and from these. */

export type HealthStatus = 'passing' | 'warning' | 'critical';
export const HEALTH_STATUSES: readonly HealthStatus[] = ['passing', 'warning', 'critical'];

export type CheckType = 'http' | 'tcp' | 'ttl';

/** A check as registered: what to run and how often. Durations stay strings (`10s`). */
export interface CheckDefinition {
  id: string;
  name: string;
  type: CheckType;
  http?: string;
  method?: string;
  headers?: Record<string, string>;
  tcp?: string;
  ttl?: string;
  interval?: string;
  timeout?: string;
  successBeforePassing: number;
  failuresBeforeCritical: number;
  deregisterCriticalAfter?: string;
}

/** A check with its current result. */
export interface Check extends CheckDefinition {
  instanceId: string;
  status: HealthStatus;
  note: string;
  /** Epoch milliseconds of the last status change. */
  statusChangedAt: number;
}

export interface Instance {
  id: string;
  /** Lower-case DNS label. */
  name: string;
  address: string;
  port: number;
  tags: string[];
  meta: Record<string, string>;
  weight: number;
  region: string | null;
  zone: string | null;
  /**
   * Set while an operator holds the instance out of answers (Consul's service maintenance);
   * absent otherwise. Kept across re-registration and restarts.
   */
  maintenance?: Maintenance;
  /** Worst of the instance's checks; passing when it has none. */
  status: HealthStatus;
  checks: Check[];
  createIndex: number;
  modifyIndex: number;
}

/** Why and since when (epoch ms) an instance is held out of answers. */
export interface Maintenance {
  reason: string;
  since: number;
}

/**
 * A service's operator defaults, named like the query parameters they stand in for. A query
 * without `lb` (and every DNS answer) uses them; a query's own parameters override them.
 */
export interface ServiceConfig {
  lb?: string;
  limit?: number;
  passing?: boolean;
  /** Percent of healthy instances below which answers ignore health (panic mode). */
  panicThreshold?: number;
  /** Canary split: the first positions of answers go to each tagged subset in proportion to its weight. */
  split?: { tag: string; weight: number }[];
  /** Slow-start window (`30s`) for instances that joined or turned passing; overrides lb.slowStart.window. */
  slowStart?: string;
}

/** A service's config as the catalog holds it, with the index of the write that set it. */
export interface ServiceConfigEntry {
  name: string;
  config: ServiceConfig;
  modifyIndex: number;
}

/** A check as a client sends it at registration, before ids and defaults are filled in. */
export type CheckInput = Omit<CheckDefinition, 'id' | 'name' | 'successBeforePassing' | 'failuresBeforeCritical'> &
  Partial<Pick<CheckDefinition, 'id' | 'name' | 'successBeforePassing' | 'failuresBeforeCritical'>> & {
    /** The status the check starts with; critical when left out. */
    status?: HealthStatus;
  };

/** A registration as a client sends it. */
export interface Registration {
  id?: string;
  name: string;
  address: string;
  port: number;
  tags?: string[];
  meta?: Record<string, string>;
  weight?: number;
  region?: string;
  zone?: string;
  checks?: CheckInput[];
}

/** The instances of one service as the catalog last committed them. */
export interface ServiceView {
  name: string;
  /** Highest catalog index that changed this service (registration, removal or health). */
  index: number;
  /** Sorted by id; frozen, replaced (never mutated) on every change. */
  instances: readonly Instance[];
}

/**
 * Why a service query left an instance out of its answer: `tag` and `meta` from the catalog's
 * filter, `maintenance`, `critical` and `warning` from the strategy manager's health filter. Each is recorded
 * by the code that made the decision, while making it (catalog.query, lb/health-filter.ts).
 */
export type ExclusionReason = 'tag' | 'meta' | 'critical' | 'warning' | 'maintenance' | 'ejected';

export interface Exclusion {
  id: string;
  reason: ExclusionReason;
  instance: Instance;
}

export interface ServiceSummary {
  name: string;
  index: number;
  instances: number;
  passing: number;
  warning: number;
  critical: number;
}

const SEVERITY: Record<HealthStatus, number> = { passing: 0, warning: 1, critical: 2 };

export function worstStatus(checks: readonly { status: HealthStatus }[]): HealthStatus {
  let worst: HealthStatus = 'passing';
  for (const check of checks) if (SEVERITY[check.status] > SEVERITY[worst]) worst = check.status;
  return worst;
}

export function compareById(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

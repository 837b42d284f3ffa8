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
  /** Worst of the instance's checks; passing when it has none. */
  status: HealthStatus;
  checks: Check[];
  createIndex: number;
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
 * filter, `critical` and `warning` from the strategy manager's health filter. Each is recorded
 * by the code that made the decision, while making it (catalog.query, lb/health-filter.ts).
 */
export type ExclusionReason = 'tag' | 'meta' | 'critical' | 'warning';

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

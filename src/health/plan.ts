import type { Check, CheckType } from '../catalog/types.js';
import { parseDuration } from '../duration.js';
import { httpTarget, type HttpTarget } from './http-check.js';
import { tcpTarget, type TcpTarget } from './tcp-check.js';

/** The durations a check falls back to when its definition leaves one out, and the floors (config.health). */
export interface PlanDefaults {
  intervalMs: number;
  timeoutMs: number;
  ttlMs: number;
  /** No http or tcp check runs more often than this (health.minInterval; Consul's floor is 1 s). */
  minIntervalMs: number;
  /** Nor with a shorter timeout (health.minTimeout). */
  minTimeoutMs: number;
}

/**
 * A check compiled once, when it is registered: durations parsed, the URL or address parsed and
 * request options built, so a run only reads. `fingerprint` is equal for two registrations of
 * the same check exactly when nothing about how it runs changed, so a re-registration that
 * changes nothing keeps the schedule, the thresholds' streaks and the TTL deadline.
 * (deregisterCriticalAfter is not part of it: the reaper reads it from every catalog event.)
 */
export interface CheckPlan {
  checkId: string;
  instanceId: string;
  type: CheckType;
  fingerprint: string;
  /** The interval it runs at: at least minIntervalMs. */
  intervalMs: number;
  /** True when the registered interval or timeout was raised to its floor. */
  clamped: boolean;
  timeoutMs: number;
  ttlMs: number;
  successBeforePassing: number;
  failuresBeforeCritical: number;
  http: HttpTarget | undefined;
  tcp: TcpTarget | undefined;
}

export function planCheck(check: Check, defaults: PlanDefaults): CheckPlan {
  // Clamped here, where checks are run, rather than refused at registration: Consul clamps too
  // (agent/checks: MinInterval), and rows stored before the floor existed are covered as well.
  const registeredIntervalMs = durationOr(check.interval, defaults.intervalMs);
  const intervalMs = Math.max(registeredIntervalMs, defaults.minIntervalMs);
  const registeredTimeoutMs = durationOr(check.timeout, defaults.timeoutMs);
  // The catalog already refuses a timeout longer than the interval; the min keeps runs of
  // one check from overlapping even for rows written before that rule.
  const timeoutMs = Math.min(Math.max(registeredTimeoutMs, defaults.minTimeoutMs), intervalMs);
  return {
    checkId: check.id,
    instanceId: check.instanceId,
    type: check.type,
    fingerprint: JSON.stringify([
      check.instanceId,
      check.type,
      check.http,
      check.method,
      check.headers,
      check.tcp,
      check.ttl,
      check.interval,
      check.timeout,
      check.successBeforePassing,
      check.failuresBeforeCritical,
    ]),
    intervalMs,
    clamped:
      check.type !== 'ttl' &&
      (registeredIntervalMs < defaults.minIntervalMs || registeredTimeoutMs < defaults.minTimeoutMs),
    timeoutMs,
    ttlMs: durationOr(check.ttl, defaults.ttlMs),
    successBeforePassing: check.successBeforePassing,
    failuresBeforeCritical: check.failuresBeforeCritical,
    http:
      check.type === 'http' && check.http !== undefined
        ? httpTarget(check.http, check.method ?? 'GET', check.headers)
        : undefined,
    tcp: check.type === 'tcp' && check.tcp !== undefined ? tcpTarget(check.tcp) : undefined,
  };
}

function durationOr(text: string | undefined, fallbackMs: number): number {
  const ms = text === undefined ? undefined : parseDuration(text);
  return ms === undefined || ms <= 0 ? fallbackMs : ms;
}

import type { Check, CheckType } from '../catalog/types.js';
import { parseDuration } from '../duration.js';
import { httpTarget, type HttpTarget } from './http-check.js';
import { tcpTarget, type TcpTarget } from './tcp-check.js';

/** The durations a check falls back to when its definition leaves one out (config.health). */
export interface PlanDefaults {
  intervalMs: number;
  timeoutMs: number;
  ttlMs: number;
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
  intervalMs: number;
  timeoutMs: number;
  ttlMs: number;
  successBeforePassing: number;
  failuresBeforeCritical: number;
  http: HttpTarget | undefined;
  tcp: TcpTarget | undefined;
}

export function planCheck(check: Check, defaults: PlanDefaults): CheckPlan {
  const intervalMs = durationOr(check.interval, defaults.intervalMs);
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
    // The catalog already refuses a timeout longer than the interval; the min keeps runs of
    // one check from overlapping even for rows written before that rule.
    timeoutMs: Math.min(durationOr(check.timeout, defaults.timeoutMs), intervalMs),
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

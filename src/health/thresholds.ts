import type { HealthStatus } from '../catalog/types.js';

/** Consecutive results of one check, the memory successBeforePassing / failuresBeforeCritical need. */
export interface Streak {
  successes: number;
  failures: number;
}

export function newStreak(): Streak {
  return { successes: 0, failures: 0 };
}

/**
 * Counts `result` into `streak` and says whether it may be recorded, with Consul's semantics
 * (agent/checks StatusHandler): passing and warning count as successes, critical as failures;
 * a success is recorded once `successBeforePassing` successes came in a row, a failure once
 * `failuresBeforeCritical` failures did. 0 (the default) records every result at once.
 * One refinement: a result with the status the check already has is always recorded, so its
 * note stays current while a streak in the other direction is still below its threshold.
 */
export function admitResult(
  streak: Streak,
  current: HealthStatus,
  result: HealthStatus,
  successBeforePassing: number,
  failuresBeforeCritical: number,
): boolean {
  if (result === 'critical') {
    streak.successes = 0;
    streak.failures++;
    return current === 'critical' || streak.failures >= failuresBeforeCritical;
  }
  streak.failures = 0;
  streak.successes++;
  return current === result || streak.successes >= successBeforePassing;
}

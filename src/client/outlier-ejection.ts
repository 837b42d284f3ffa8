/**
 * Passive outlier ejection (Envoy's outlier_detection, consecutive_5xx): `consecutiveFailures`
 * failures in a row eject an instance for baseEjectionTime × the number of times it has been
 * ejected (capped at maxEjectionTime), so a flapping instance stays out longer each time.
 * At most maxEjectionPercent of the service is ejected at once (never every instance of it):
 * a bad signal, or a failure that is the caller's own, cannot empty the service. An ejected
 * instance comes back when its time is up; nothing is scheduled, time is read at pick time.
 */
import type { InstanceState } from './instance-state.js';
import type { ResolvedOutlier } from './options.js';

export class OutlierEjection {
  constructor(private readonly config: ResolvedOutlier) {}

  /** A success: the failure streak ends. */
  succeeded(state: InstanceState): void {
    state.consecutiveFailures = 0;
  }

  /**
   * A failure of `state`, one of `service`'s current instances. Returns true when it ejected
   * the instance.
   */
  failed(state: InstanceState, service: readonly InstanceState[], now: number): boolean {
    const config = this.config;
    if (++state.consecutiveFailures < config.consecutiveFailures || state.ejectedUntil > now) return false;
    let ejected = 0;
    for (const other of service) if (other.ejectedUntil > now) ejected++;
    const allowed = Math.min(Math.floor((service.length * config.maxEjectionPercent) / 100), service.length - 1);
    if (ejected >= allowed) return false;
    state.ejections++;
    state.ejectedUntil = now + Math.min(config.baseEjectionMs * state.ejections, config.maxEjectionMs);
    state.consecutiveFailures = 0;
    return true;
  }
}

/**
 * Passive outlier ejection (Envoy's outlier_detection, consecutive_5xx): `consecutiveFailures`
 * failures in a row eject an instance for baseEjectionTime × its ejection multiplier, at most
 * maxEjectionTime. Each ejection raises the multiplier by one (no further than the step that
 * reaches maxEjectionTime), so a flapping instance stays out longer each time; each full
 * `interval` the instance then spends not ejected lowers it by one, as Envoy decrements a
 * host's ejection backoff at every interval sweep that finds it healthy, so an instance that
 * failed once last week starts again from the base time.
 * At most maxEjectionPercent of the service is ejected at once (never every instance of it):
 * a bad signal, or a failure that is the caller's own, cannot empty the service. An ejected
 * instance comes back when its time is up. Nothing is scheduled: ejection end and decay are
 * both read from the balancer's clock when an outcome or the stats need them.
 */
import type { InstanceState } from './instance-state.js';
import type { ResolvedOutlier } from './options.js';

export class OutlierEjection {
  /** The multiplier whose ejection reaches maxEjectionTime: raising it further would change nothing but the decay. */
  private readonly maxMultiplier: number;

  constructor(private readonly config: ResolvedOutlier) {
    this.maxMultiplier = Math.max(1, Math.ceil(config.maxEjectionMs / config.baseEjectionMs));
  }

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
    this.decay(state, now);
    if (state.ejectionMultiplier < this.maxMultiplier) state.ejectionMultiplier++;
    state.ejections++;
    state.ejectedUntil = now + Math.min(config.baseEjectionMs * state.ejectionMultiplier, config.maxEjectionMs);
    state.multiplierDecayedAt = state.ejectedUntil;
    state.consecutiveFailures = 0;
    return true;
  }

  /** Lowers the multiplier by one for each full interval since the ejection ended (or since the last step). */
  decay(state: InstanceState, now: number): void {
    const multiplier = state.ejectionMultiplier;
    if (multiplier === 0 || state.ejectedUntil > now) return;
    const intervalMs = this.config.intervalMs;
    const steps = Math.floor((now - state.multiplierDecayedAt) / intervalMs);
    if (steps <= 0) return;
    state.ejectionMultiplier = steps >= multiplier ? 0 : multiplier - steps;
    state.multiplierDecayedAt += steps * intervalMs;
  }
}

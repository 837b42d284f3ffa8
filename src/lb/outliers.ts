/**
 * Outlier ejection from outcomes clients report (Envoy's outlier detection): passive health as
 * data. An instance is ejected from answers after `consecutiveFailures` failures in a row, or
 * when its success rate over an interval falls more than `successRateStdevFactor` standard
 * deviations below its peers' mean (Envoy's success-rate detection: only among instances with
 * `successRateRequestVolume` outcomes, and only when `successRateMinimumHosts` have that many).
 * An ejection lasts `baseEjectionMs` × the times the instance has been ejected, at most
 * `maxEjectionMs`; never more than `maxEjectionPercent` of a service's instances are out at once
 * (at least one may be), so a bad signal cannot empty a service.
 *
 * Everything runs on the injected clock and at report or query time: no timers. Memory is one
 * record per reported instance, dropped when the instance leaves the catalog (forget()).
 */
export interface OutlierConfig {
  consecutiveFailures: number;
  intervalMs: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxEjectionPercent: number;
  successRateMinimumHosts: number;
  successRateRequestVolume: number;
  successRateStdevFactor: number;
}

interface OutlierRecord {
  service: string;
  streak: number;
  successes: number;
  failures: number;
  /**
   * The ejection-time multiplier: one more per ejection, one less per whole `interval` spent in
   * answers (Envoy's backoff), so an instance that failed once long ago starts from the base again.
   */
  ejections: number;
  /** Epoch ms from which time in answers counts down `ejections` (the last return or decay step). */
  decayFrom: number;
  /** Epoch ms the current ejection ends; 0 when not ejected. */
  ejectedUntil: number;
}

export interface OutcomeResult {
  consecutiveFailures: number;
  /** Epoch ms the instance returns to answers, or null when it is in them. */
  ejectedUntil: number | null;
  /** Set when this report ejected it, with why. */
  ejectedFor: 'consecutive-failures' | 'success-rate' | null;
  /** Set when the cap kept it in answers although it met an ejection rule. */
  capped: boolean;
}

export interface OutlierObserver {
  ejected?(service: string, instanceId: string, reason: 'consecutive-failures' | 'success-rate'): void;
  returned?(service: string, instanceId: string): void;
}

export class OutlierDetector {
  private readonly records = new Map<string, OutlierRecord>();
  /** Ejected instance ids per service. */
  private readonly ejectedByService = new Map<string, Set<string>>();
  /** When each service's current success-rate interval started. */
  private readonly intervalStart = new Map<string, number>();
  /** The earliest ejectedUntil of any ejected instance: returns are processed when it passes. */
  private nextReturn = Infinity;
  /** Bumped on every ejection and return: answers cached against an older value are stale. */
  generation = 0;

  constructor(
    readonly config: OutlierConfig,
    private readonly now: () => number,
    private readonly observer: OutlierObserver = {},
  ) {}

  /**
   * Records outcomes for an instance of `service` that has `serviceSize` instances. Successes
   * reset the failure streak; failures in the same report count after them.
   */
  report(
    service: string,
    instanceId: string,
    successes: number,
    failures: number,
    serviceSize: number,
    peers: () => readonly string[],
  ): OutcomeResult {
    this.expire();
    let record = this.records.get(instanceId);
    if (record === undefined || record.service !== service) {
      record = { service, streak: 0, successes: 0, failures: 0, ejections: 0, decayFrom: 0, ejectedUntil: 0 };
      this.records.set(instanceId, record);
    }
    if (successes > 0) record.streak = 0;
    record.streak += failures;
    record.successes += successes;
    record.failures += failures;
    let ejectedFor: OutcomeResult['ejectedFor'] = null;
    let capped = false;
    const threshold = this.config.consecutiveFailures;
    if (record.ejectedUntil === 0 && threshold > 0 && record.streak >= threshold) {
      if (this.eject(service, instanceId, record, serviceSize, 'consecutive-failures'))
        ejectedFor = 'consecutive-failures';
      else capped = true;
    }
    const rate = this.successRate(service, serviceSize, peers, instanceId);
    if (rate.ejected) ejectedFor ??= 'success-rate';
    capped ||= rate.capped;
    return {
      consecutiveFailures: record.streak,
      ejectedUntil: record.ejectedUntil === 0 ? null : record.ejectedUntil,
      ejectedFor,
      capped,
    };
  }

  /** Whether any instance of `service` is ejected now. */
  hasEjections(service: string): boolean {
    this.expire();
    return (this.ejectedByService.get(service)?.size ?? 0) > 0;
  }

  isEjected(instanceId: string): boolean {
    const record = this.records.get(instanceId);
    return record !== undefined && record.ejectedUntil > 0;
  }

  ejectedCount(service: string): number {
    this.expire();
    return this.ejectedByService.get(service)?.size ?? 0;
  }

  /** Per service, how many instances are ejected now (for metrics). */
  ejectedCounts(): Map<string, number> {
    this.expire();
    const counts = new Map<string, number>();
    for (const [service, ids] of this.ejectedByService) if (ids.size > 0) counts.set(service, ids.size);
    return counts;
  }

  /** The instance left the catalog: its record and any ejection go. */
  forget(instanceId: string): void {
    const record = this.records.get(instanceId);
    if (record === undefined) return;
    this.records.delete(instanceId);
    if (record.ejectedUntil > 0 && this.ejectedByService.get(record.service)?.delete(instanceId) === true)
      this.generation++;
  }

  /** Returns every instance whose ejection has ended. O(1) while none is due. */
  expire(): void {
    const now = this.now();
    if (now < this.nextReturn) return;
    let next = Infinity;
    for (const [service, ids] of this.ejectedByService) {
      for (const id of ids) {
        const record = this.records.get(id)!;
        if (record.ejectedUntil <= now) {
          ids.delete(id);
          // Time in answers counts from the return (checked lazily, so from when it was due).
          record.decayFrom = record.ejectedUntil;
          record.ejectedUntil = 0;
          record.streak = 0;
          this.generation++;
          this.observer.returned?.(service, id);
        } else if (record.ejectedUntil < next) next = record.ejectedUntil;
      }
    }
    this.nextReturn = next;
  }

  private eject(
    service: string,
    instanceId: string,
    record: OutlierRecord,
    serviceSize: number,
    reason: 'consecutive-failures' | 'success-rate',
  ): boolean {
    let ids = this.ejectedByService.get(service);
    if (ids === undefined) this.ejectedByService.set(service, (ids = new Set()));
    // Envoy ejects at least one host whatever the percentage, and never more than the share.
    const allowed = Math.max(1, Math.floor((serviceSize * this.config.maxEjectionPercent) / 100));
    if (ids.size >= allowed) return false;
    const now = this.now();
    this.decay(record, now);
    const { baseEjectionMs, maxEjectionMs } = this.config;
    // Stops rising once an ejection reaches the maximum, so decay can bring it back down in time.
    if (baseEjectionMs * record.ejections < maxEjectionMs) record.ejections++;
    const duration = Math.min(baseEjectionMs * record.ejections, maxEjectionMs);
    record.ejectedUntil = now + duration;
    ids.add(instanceId);
    if (record.ejectedUntil < this.nextReturn) this.nextReturn = record.ejectedUntil;
    this.generation++;
    this.observer.ejected?.(service, instanceId, reason);
    return true;
  }

  /** Lowers the multiplier by one per whole `interval` in answers since `decayFrom`; no timer runs. */
  private decay(record: OutlierRecord, now: number): void {
    const interval = this.config.intervalMs;
    if (record.ejections === 0 || record.ejectedUntil > 0 || interval <= 0) return;
    const steps = Math.floor((now - record.decayFrom) / interval);
    if (steps <= 0) return;
    record.ejections = Math.max(0, record.ejections - steps);
    record.decayFrom += steps * interval;
  }

  /**
   * At the end of each interval (checked at report time), ejects the service's instances whose
   * success rate is below mean − factor × stdev, then starts a new interval.
   */
  private successRate(
    service: string,
    serviceSize: number,
    peers: () => readonly string[],
    reporter: string,
  ): { ejected: boolean; capped: boolean } {
    const now = this.now();
    const started = this.intervalStart.get(service);
    if (started === undefined) {
      this.intervalStart.set(service, now);
      return { ejected: false, capped: false };
    }
    if (now - started < this.config.intervalMs) return { ejected: false, capped: false };
    this.intervalStart.set(service, now);
    const rates: { id: string; record: OutlierRecord; rate: number }[] = [];
    const members = peers();
    for (const id of members) {
      const record = this.records.get(id);
      if (record === undefined) continue;
      const volume = record.successes + record.failures;
      if (volume >= this.config.successRateRequestVolume && record.ejectedUntil === 0)
        rates.push({ id, record, rate: record.successes / volume });
    }
    for (const id of members) {
      const record = this.records.get(id);
      if (record !== undefined) record.successes = record.failures = 0;
    }
    if (rates.length < this.config.successRateMinimumHosts) return { ejected: false, capped: false };
    const mean = rates.reduce((sum, entry) => sum + entry.rate, 0) / rates.length;
    const variance = rates.reduce((sum, entry) => sum + (entry.rate - mean) ** 2, 0) / rates.length;
    const floor = mean - this.config.successRateStdevFactor * Math.sqrt(variance);
    let ejected = false;
    let capped = false;
    for (const entry of rates) {
      if (entry.rate >= floor) continue;
      const out = this.eject(service, entry.id, entry.record, serviceSize, 'success-rate');
      if (entry.id === reporter) {
        ejected ||= out;
        capped ||= !out;
      }
    }
    return { ejected, capped };
  }
}

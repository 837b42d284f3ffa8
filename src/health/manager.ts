import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Catalog, CatalogEvent } from '../catalog/catalog.js';
import type { Check, HealthStatus } from '../catalog/types.js';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { parseDuration } from '../duration.js';
import { Errors, KonsulError } from '../errors.js';
import type { CheckCluster } from './cluster.js';
import { HttpProber } from './http-check.js';
import { HealthMetrics } from './metrics.js';
import { CheckOwnership } from './ownership.js';
import { planCheck, type CheckPlan, type PlanDefaults } from './plan.js';
import { CriticalReaper, type ReapNotice } from './reaper.js';
import { describeError, type CheckResult } from './result.js';
import { Scheduler, type ScheduledJob } from './scheduler.js';
import { Slots } from './slots.js';
import { runTcpCheck } from './tcp-check.js';
import { admitResult, newStreak, type Streak } from './thresholds.js';
import { TTL_EXPIRED_NOTE, TtlTracker } from './ttl.js';

export interface HealthManagerOptions {
  catalog: Catalog;
  config: Config['health'];
  /** Where the health metrics are registered (the server's registry, never prom-client's global one). */
  registry: Registry;
  logger: Logger;
  /** Injectable clock, epoch ms (timers stay the process's own). */
  now?: () => number;
  /** Injectable clock and timers, for a virtual clock in tests; takes precedence over `now`. */
  clock?: Clock;
  /** Injectable jitter source in [0, 1). */
  random?: () => number;
  /**
   * The cluster this node is part of (store.type etcd): each check is then run by the one live
   * member that owns it, and TTL heartbeats are shared. Without it this node runs every check.
   */
  cluster?: CheckCluster;
}

/** One check the manager looks after: its compiled plan and its run state. */
interface ManagedCheck extends ScheduledJob {
  plan: CheckPlan;
  streak: Streak;
  /** Set once the check is removed or replaced: a run still going or waiting must not record. */
  retired: boolean;
  /** The running check's cancel switch; null between runs. */
  abort: AbortController | null;
  /** False until the first run has picked this check's phase within its interval. */
  phased: boolean;
  /** This node runs it (always true without a cluster). */
  owned: boolean;
  /** Since when this node has owned it (epoch ms): a TTL deadline with no shared heartbeat starts there. */
  ownedSince: number;
  /** When this node last wrote a new note with an unchanged status (cluster only; epoch ms). */
  outputWrittenAt: number;
  /** The last TTL heartbeat this node took (cluster only; epoch ms). */
  heartbeatAt: number | null;
}

// Codes that mean the world moved on while a result was on its way, not that anything failed.
const EXPECTED_WRITE_FAILURES = new Set<string>([
  Errors.checkNotFound.code,
  Errors.instanceNotFound.code,
  Errors.shuttingDown.code,
  Errors.notCheckOwner.code,
]);

const LOCAL_ERROR_WARN_MS = 10_000;

/**
 * Runs every check in the catalog and records what it finds there. http and tcp checks run on
 * one timer-driven schedule (scheduler.ts) behind a cap on concurrent runs (slots.ts); ttl
 * checks only hold a deadline (ttl.ts); deregisterCriticalAfter is a deadline too (reaper.ts).
 * The catalog's events keep all of this in step with registrations and removals, whichever face
 * (HTTP, Consul compatibility) made them.
 */
export class HealthManager {
  private readonly catalog: Catalog;
  private readonly config: Config['health'];
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly defaults: PlanDefaults;
  private readonly metrics: HealthMetrics;
  private readonly http: HttpProber;
  private readonly checks = new Map<string, ManagedCheck>();
  private readonly scheduler: Scheduler<ManagedCheck>;
  private readonly slots: Slots<ManagedCheck>;
  private readonly ttl: TtlTracker;
  private reaper: CriticalReaper | null = null;
  private readonly runs = new Set<Promise<void>>();
  private readonly writes = new Set<Promise<void>>();
  private unsubscribe: (() => void) | null = null;
  private state: 'created' | 'running' | 'stopped' = 'created';
  private stopping: Promise<void> | null = null;
  private lastLocalErrorWarnAt = Number.NEGATIVE_INFINITY;
  private localErrorsSinceWarn = 0;
  private readonly cluster: CheckCluster | null;
  private readonly ownership: CheckOwnership | null;
  /** The member list ownership was last computed from, to skip a rebalance that changes nothing. */
  private ownershipKey = '';
  private readonly outputSyncMs: number;

  constructor(options: HealthManagerOptions) {
    this.catalog = options.catalog;
    this.config = options.config;
    this.logger = options.logger.child({ component: 'health' });
    this.clock = options.clock ?? (options.now === undefined ? systemClock : { ...systemClock, now: options.now });
    this.now = this.clock.now;
    this.random = options.random ?? Math.random;
    this.defaults = {
      intervalMs: parseDuration(options.config.defaultInterval) ?? 10_000,
      timeoutMs: parseDuration(options.config.defaultTimeout) ?? 5_000,
      ttlMs: parseDuration(options.config.defaultTtl) ?? 30_000,
      minIntervalMs: parseDuration(options.config.minInterval) ?? 1000,
      minTimeoutMs: parseDuration(options.config.minTimeout) ?? 100,
    };
    this.metrics = new HealthMetrics(options.registry, () => this.slots.busy);
    this.http = new HttpProber(options.config.outputBytes, this.clock, options.cluster?.self ?? null);
    this.scheduler = new Scheduler(this.clock, (check) => this.slots.submit(check));
    this.slots = new Slots(options.config.maxConcurrent, (check) => this.begin(check));
    this.ttl = new TtlTracker(this.clock, (checkId) => this.expireTtl(checkId));
    this.cluster = options.cluster ?? null;
    this.ownership = this.cluster === null ? null : new CheckOwnership(this.cluster.self);
    this.outputSyncMs = parseDuration(options.config.outputSyncInterval) ?? 300_000;
  }

  /** Whether this node runs the check now (always, for a known check, without a cluster). */
  owns(checkId: string): boolean {
    return this.checks.get(checkId)?.owned === true;
  }

  /** The live members this node's share of the checks was last computed from; null outside a cluster or while not a member. */
  get clusterMembers(): readonly string[] | null {
    return this.cluster === null || this.ownershipKey === '' ? null : this.ownershipKey.split('\u0000');
  }

  /**
   * The member that runs `checkId` (its probes, or its TTL deadline), by the same hashing over
   * the same member list this node's own share follows; null outside a cluster, with checks off,
   * or while this node is no member (it then knows of no live member list to place checks on).
   */
  ownerOf(checkId: string): string | null {
    return this.clusterMembers === null ? null : this.ownership!.ownerOf(checkId);
  }

  /** Checks this node runs (every one without a cluster). */
  get owned(): number {
    let owned = 0;
    for (const check of this.checks.values()) if (check.owned) owned++;
    return owned;
  }

  /** http and tcp checks running now. */
  get inFlight(): number {
    return this.slots.busy;
  }

  /** Checks under management (every type), for the start-up line and tests. */
  get managed(): number {
    return this.checks.size;
  }

  /**
   * Schedules every stored check and follows the catalog from here on. With health.enabled
   * false nothing runs and no TTL expires; updateTtl still records what clients report.
   */
  start(): void {
    if (this.state !== 'created') return;
    this.state = 'running';
    if (!this.config.enabled) {
      this.logger.info('health checks are disabled (health.enabled = false)');
      return;
    }
    this.reaper = new CriticalReaper(this.clock, this.now(), (notice) => this.reap(notice));
    if (this.cluster !== null) {
      this.refreshOwnership();
      const unsubscribeMembers = this.cluster.onMembersChange(() => this.rebalance());
      const unsubscribeCatalog = this.catalog.subscribe((event) => this.onCatalogEvent(event));
      this.unsubscribe = () => {
        unsubscribeMembers();
        unsubscribeCatalog();
      };
    } else {
      // Subscribing and loading run in one synchronous stretch, so no commit falls between them.
      this.unsubscribe = this.catalog.subscribe((event) => this.onCatalogEvent(event));
    }
    for (const instance of this.catalog.allInstances()) for (const check of instance.checks) this.adopt(check);
    this.logger.debug({ checks: this.checks.size, maxConcurrent: this.config.maxConcurrent }, 'health checks started');
  }

  /**
   * pass, warn or fail of a TTL check from any face. Moves its deadline even when the status
   * does not change (that is what a heartbeat is for), then records the status.
   */
  async updateTtl(checkId: string, status: HealthStatus, note = ''): Promise<void> {
    const found = this.catalog.findCheck(checkId);
    if (found === undefined) throw Errors.checkNotFound(checkId);
    if (found.check.type !== 'ttl') throw Errors.notTtlCheck(checkId, found.check.type);
    this.ttl.heartbeat(checkId);
    this.metrics.result('ttl', status);
    const managed = this.checks.get(checkId);
    if (this.cluster === null || managed === undefined) {
      await this.catalog.updateCheck(checkId, status, note);
      return;
    }
    // Any node takes a heartbeat; the check's owner learns of it from the shared record.
    managed.heartbeatAt = this.now();
    this.cluster.recordHeartbeat(checkId, managed.heartbeatAt, managed.plan.ttlMs);
    // A client's own report needs no fence: it is not this node's opinion of the check.
    const options = this.outputOptions(managed, found.check, status, note);
    if (options !== null) await this.catalog.updateCheck(checkId, status, note, options);
  }

  /**
   * Resolves once every check running now has ended and its result is written (or known not to
   * need writing). An event to wait on, so a caller stepping a virtual clock from one run to the
   * next never polls; runs that start meanwhile are not waited for.
   */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.runs]);
    await Promise.allSettled([...this.writes]);
  }

  /** Clears every timer, cancels every running check and waits for it and for pending writes. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.state = 'stopped';
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.scheduler.clear();
    this.slots.clear();
    this.ttl.clear();
    this.reaper?.clear();
    for (const check of this.checks.values()) {
      check.retired = true;
      check.abort?.abort();
    }
    this.checks.clear();
    // Probes resolve only once their socket has closed, so after this no socket is left.
    await Promise.allSettled([...this.runs]);
    await Promise.allSettled([...this.writes]);
    this.http.close();
  }

  // ---- following the catalog -----------------------------------------------------------------

  private onCatalogEvent(event: CatalogEvent): void {
    switch (event.kind) {
      case 'registered': {
        const before = new Map((event.previous?.checks ?? []).map((check) => [check.id, check]));
        for (const check of event.instance.checks) {
          const previous = before.get(check.id);
          before.delete(check.id);
          if (previous !== undefined && previous.status !== check.status)
            this.metrics.statusChange(previous.status, check.status);
          this.adopt(check);
        }
        for (const checkId of before.keys()) this.retire(checkId, true);
        break;
      }
      case 'deregistered':
        for (const check of event.instance.checks) this.retire(check.id, true);
        break;
      case 'check-updated':
        if (event.previousStatus !== event.check.status)
          this.metrics.statusChange(event.previousStatus, event.check.status);
        if (this.checks.get(event.check.id)?.owned === true) this.reaper?.observe(event.check);
        break;
    }
  }

  /** Starts managing `check`, or keeps the current schedule when nothing about how it runs changed. */
  private adopt(check: Check): void {
    const plan = planCheck(check, this.defaults);
    const existing = this.checks.get(check.id);
    if (existing === undefined || existing.plan.fingerprint !== plan.fingerprint) {
      if (existing !== undefined) this.retire(check.id);
      if (plan.clamped) {
        this.logger.warn(
          {
            checkId: check.id,
            interval: check.interval,
            timeout: check.timeout,
            runsEvery: `${plan.intervalMs}ms`,
            timeoutMs: plan.timeoutMs,
          },
          'check interval or timeout below health.minInterval / health.minTimeout; raised to the minimum',
        );
      }
      const managed: ManagedCheck = {
        plan,
        streak: newStreak(),
        retired: false,
        abort: null,
        phased: false,
        dueAt: 0,
        heapIndex: -1,
        owned: false,
        ownedSince: 0,
        outputWrittenAt: Number.NEGATIVE_INFINITY,
        heartbeatAt: null,
      };
      this.checks.set(check.id, managed);
      if (this.ownership === null || this.ownership.owns(check.id)) this.activate(managed, check);
      return;
    }
    if (!existing.owned) return;
    // In a cluster a heartbeat on another node may bring an expired TTL check back: its deadline runs again.
    if (this.cluster !== null && plan.type === 'ttl' && check.status !== 'critical' && !this.ttl.isArmed(check.id))
      this.ttl.track(check.id, plan.ttlMs);
    this.reaper?.observe(check);
  }

  /** This node starts running `managed`: its first run, its TTL deadline, its deregistration deadline. */
  private activate(managed: ManagedCheck, check: Check): void {
    const { plan } = managed;
    managed.owned = true;
    managed.ownedSince = this.now();
    if (plan.type === 'ttl') {
      this.ttl.track(check.id, plan.ttlMs);
      // Taking over from a node that died: the deadline runs from the last heartbeat any node shared.
      if (this.cluster !== null) void this.confirmTtl(check.id);
    } else {
      // The first run comes at once, spread over up to a second so that checks loaded together
      // at start-up (or registered in one burst, or taken over from a node that died) do not all
      // fire in the same millisecond.
      managed.phased = false;
      this.scheduler.schedule(managed, this.now() + Math.min(plan.intervalMs, 1000) * this.random());
    }
    this.reaper?.observe(check);
  }

  /** This node stops running `managed` (another member owns it now, or this node is no member). */
  private deactivate(managed: ManagedCheck): void {
    const checkId = managed.plan.checkId;
    managed.owned = false;
    this.scheduler.cancel(managed);
    managed.abort?.abort();
    managed.streak = newStreak();
    this.ttl.forget(checkId);
    this.reaper?.forget(checkId);
  }

  /** The member list changed: take the checks this node now owns, give up the others. */
  private rebalance(): void {
    if (this.state !== 'running' || this.ownership === null || !this.refreshOwnership()) return;
    let taken = 0;
    let given = 0;
    for (const managed of this.checks.values()) {
      const owns = this.ownership.owns(managed.plan.checkId);
      if (owns === managed.owned) continue;
      if (owns) {
        const found = this.catalog.findCheck(managed.plan.checkId);
        if (found === undefined) continue;
        this.activate(managed, found.check);
        taken++;
      } else {
        this.deactivate(managed);
        given++;
      }
    }
    this.logger.info(
      { members: this.clusterMembers, owned: this.owned, taken, given },
      'cluster members changed; checks re-shared',
    );
  }

  /** Takes the cluster's current member list; false when it is the one ownership already follows. */
  private refreshOwnership(): boolean {
    const members = this.cluster!.members();
    const key = members === null ? '' : members.join('\u0000');
    if (key === this.ownershipKey) return false;
    this.ownershipKey = key;
    this.ownership!.update(members);
    return true;
  }

  /** `gone`: the check left the catalog (not merely redefined), so its shared heartbeats go too. */
  private retire(checkId: string, gone = false): void {
    const managed = this.checks.get(checkId);
    if (managed === undefined) return;
    managed.retired = true;
    this.checks.delete(checkId);
    this.scheduler.cancel(managed);
    managed.abort?.abort();
    this.ttl.forget(checkId);
    this.reaper?.forget(checkId);
    if (gone && this.cluster !== null && managed.plan.type === 'ttl')
      this.cluster.forgetHeartbeat(checkId, managed.owned);
  }

  // ---- running http and tcp checks -------------------------------------------------------------

  /** Called by the slots when `check` gets a slot; false gives the slot back. */
  private begin(check: ManagedCheck): boolean {
    if (check.retired || !check.owned || this.state !== 'running') return false;
    // dueAt is the planned start; the difference includes any time spent queued for a slot.
    this.metrics.startLag(Math.max(this.now() - check.dueAt, 0) / 1000);
    const abort = new AbortController();
    check.abort = abort;
    const { plan } = check;
    const startedAt = performance.now();
    const probe =
      plan.type === 'http'
        ? this.http.run(plan.http!, plan.timeoutMs, abort.signal)
        : runTcpCheck(plan.tcp!, plan.timeoutMs, abort.signal, this.clock);
    const run: Promise<void> = probe
      // A probe that fails to even start (a request Node refuses to build) is a critical result
      // like any other, so the check is rescheduled instead of silently keeping its last status.
      .catch((error: unknown): CheckResult => ({
        status: 'critical',
        note: `check could not run: ${describeError(error)}`,
      }))
      .then((result) => this.complete(check, result, (performance.now() - startedAt) / 1000))
      .catch((error: unknown) => this.logger.error({ err: error, checkId: plan.checkId }, 'health check run failed'))
      .finally(() => {
        this.runs.delete(run);
        this.slots.release();
      });
    this.runs.add(run);
    return true;
  }

  private complete(check: ManagedCheck, result: CheckResult, seconds: number): void {
    check.abort = null;
    if (check.retired || !check.owned || this.state !== 'running') return;
    const { plan } = check;
    this.metrics.result(plan.type, result.status);
    this.metrics.duration(plan.type, seconds);
    const found = this.catalog.findCheck(plan.checkId);
    if (result.localError !== undefined) {
      // The target was not tested: keep its status and streak, and try again next interval.
      this.metrics.localError(plan.type, result.localError);
      this.warnLocalError(plan.checkId, result);
    } else if (found !== undefined) {
      if (
        admitResult(
          check.streak,
          found.check.status,
          result.status,
          plan.successBeforePassing,
          plan.failuresBeforeCritical,
        )
      ) {
        void this.record(plan.checkId, result.status, result.note);
      } else {
        this.logger.debug(
          { checkId: plan.checkId, result: result.status, streak: check.streak },
          'check result below its threshold; status kept',
        );
      }
    }
    if (!check.phased) {
      // The first runs of checks registered or resumed together all fall within one second.
      // Their second run comes after a random part of the interval (never more than all of it),
      // which spreads them evenly over the interval instead of keeping them in lockstep: 10,000
      // checks every 10 s then make 1,000 runs each second, not 10,000 in one.
      check.phased = true;
      this.scheduler.schedule(check, this.now() + plan.intervalMs * (1 - this.random()));
      return;
    }
    // Fixed rate from the planned start; a run that ended past its next slot starts again now
    // rather than firing the missed runs back to back.
    this.scheduler.schedule(check, Math.max(check.dueAt + plan.intervalMs, this.now()));
  }

  /** One warn line per LOCAL_ERROR_WARN_MS however many checks hit it: a shortage hits them all. */
  private warnLocalError(checkId: string, result: CheckResult): void {
    this.localErrorsSinceWarn++;
    const now = this.now();
    if (now - this.lastLocalErrorWarnAt < LOCAL_ERROR_WARN_MS) return;
    this.logger.warn(
      { checkId, code: result.localError, note: result.note, runs: this.localErrorsSinceWarn },
      'health check could not run for a reason on this host; its status is kept',
    );
    this.lastLocalErrorWarnAt = now;
    this.localErrorsSinceWarn = 0;
  }

  // ---- TTL and deregisterCriticalAfter -----------------------------------------------------------

  private expireTtl(checkId: string): void {
    if (this.cluster !== null) {
      void this.confirmTtl(checkId);
      return;
    }
    const found = this.catalog.findCheck(checkId);
    if (found === undefined) return;
    this.metrics.result('ttl', 'critical');
    if (found.check.status !== 'critical')
      this.logger.info({ checkId, instanceId: found.instance.id }, 'TTL check expired');
    void this.record(checkId, 'critical', TTL_EXPIRED_NOTE);
  }

  /**
   * A cluster TTL deadline fell on the owner (or it just took the check over): the check
   * expires only if no node shared a heartbeat within its TTL; otherwise the deadline moves to
   * the newest one's. With no shared heartbeat at all, the TTL runs from when this node took
   * the check.
   */
  private async confirmTtl(checkId: string): Promise<void> {
    let shared: number | null;
    try {
      shared = await this.cluster!.lastHeartbeat(checkId);
    } catch (error) {
      // etcd is out of reach: an expiry could not be written either. Ask again shortly.
      this.logger.debug({ err: error, checkId }, 'could not read a TTL check’s shared heartbeat');
      const managed = this.checks.get(checkId);
      if (managed?.owned === true) this.ttl.armAt(checkId, this.now() + 1000);
      return;
    }
    const managed = this.checks.get(checkId);
    if (managed === undefined || !managed.owned || this.state !== 'running') return;
    // The newest heartbeat known, shared or taken here (perhaps while the read was out).
    const newest = Math.max(shared ?? Number.NEGATIVE_INFINITY, managed.heartbeatAt ?? Number.NEGATIVE_INFINITY);
    const deadline = (Number.isFinite(newest) ? newest : managed.ownedSince) + managed.plan.ttlMs;
    if (deadline > this.now()) {
      this.ttl.armAt(checkId, deadline);
      return;
    }
    const found = this.catalog.findCheck(checkId);
    if (found === undefined) return;
    this.metrics.result('ttl', 'critical');
    if (found.check.status !== 'critical')
      this.logger.info({ checkId, instanceId: found.instance.id, lastHeartbeat: shared }, 'TTL check expired');
    // No run comes to write it again (as an http check's would): an expiry etcd refused is
    // confirmed again a second later, re-reading the heartbeats first.
    this.record(checkId, 'critical', TTL_EXPIRED_NOTE)?.catch(() => {
      if (this.checks.get(checkId) === managed && managed.owned) this.ttl.armAt(checkId, this.now() + 1000);
    });
  }

  private reap(notice: ReapNotice): void {
    // In a cluster only the check's owner deregisters, fenced like its status writes.
    const fence = this.cluster?.fence() ?? null;
    if (this.cluster !== null && (fence === null || this.checks.get(notice.checkId)?.owned !== true)) return;
    const found = this.catalog.findCheck(notice.checkId);
    // A status change since the deadline was armed re-arms or cancels it; this guards the race.
    if (
      found === undefined ||
      found.check.status !== 'critical' ||
      found.check.statusChangedAt !== notice.criticalSince
    )
      return;
    const criticalForMs = this.now() - notice.criticalSince;
    this.track(
      this.catalog.deregister(notice.instanceId, fence ?? undefined).then(({ index }) => {
        this.logger.warn(
          {
            instanceId: notice.instanceId,
            checkId: notice.checkId,
            criticalForMs,
            deregisterCriticalAfterMs: notice.deregisterCriticalAfterMs,
            index,
          },
          'deregistered instance: its check stayed critical longer than deregisterCriticalAfter',
        );
      }),
      notice.checkId,
    );
  }

  // ---- writes --------------------------------------------------------------------------------

  /** Writes a result only when it differs from what the catalog holds; returns the write, if any. */
  private record(checkId: string, status: HealthStatus, note: string): Promise<unknown> | null {
    const found = this.catalog.findCheck(checkId);
    if (found === undefined || (found.check.status === status && found.check.note === note)) return null;
    const managed = this.checks.get(checkId);
    let write: Promise<unknown>;
    if (this.cluster === null || managed === undefined) {
      write = this.catalog.updateCheck(checkId, status, note);
    } else {
      // Only while this node is the member that owns the check: etcd refuses the write otherwise.
      const fence = this.cluster.fence();
      if (fence === null) return null;
      const options = this.outputOptions(managed, found.check, status, note);
      if (options === null) return null;
      write = this.catalog.updateCheck(checkId, status, note, { ...options, fence });
    }
    this.track(write, checkId);
    return write;
  }

  /**
   * Cluster mode: whether and how a result is written. A status change always is. A new note
   * with the same status is written at most once per health.outputSyncInterval per check (as
   * Consul's check_update_interval): every node shows the same note, and noisy output costs
   * etcd one write per period, not one per run. Null: not written now (not shown here either,
   * so the nodes never disagree).
   */
  private outputOptions(
    managed: ManagedCheck,
    current: Check,
    status: HealthStatus,
    note: string,
  ): { writeOutput: boolean } | null {
    const now = this.now();
    if (current.status !== status) {
      managed.outputWrittenAt = now;
      return { writeOutput: false };
    }
    if (current.note === note || now - managed.outputWrittenAt < this.outputSyncMs) return null;
    managed.outputWrittenAt = now;
    return { writeOutput: true };
  }

  private track(write: Promise<unknown>, checkId: string): void {
    const tracked: Promise<void> = write
      .then(
        () => undefined,
        (error: unknown) => {
          if (error instanceof KonsulError && EXPECTED_WRITE_FAILURES.has(error.code)) return;
          this.logger.warn({ err: error, checkId }, 'could not record a health check result');
        },
      )
      .finally(() => this.writes.delete(tracked));
    this.writes.add(tracked);
  }
}

import type { Clock } from '../clock.js';
import { Deadlines } from './deadlines.js';

/** The note a TTL check gets when its client stops reporting. */
export const TTL_EXPIRED_NOTE = 'TTL expired';

/**
 * The deadline of every TTL check: a client must report (pass, warn or fail) within `ttl` or
 * the check turns critical. Deadlines live in memory only, so after a restart every TTL check
 * gets a full `ttl` from start-up: clients could not report while the server was down.
 */
export class TtlTracker {
  private readonly ttls = new Map<string, number>();
  private readonly deadlines: Deadlines;

  constructor(
    private readonly clock: Clock,
    private readonly onExpire: (checkId: string) => void,
  ) {
    this.deadlines = new Deadlines(clock);
  }

  get size(): number {
    return this.ttls.size;
  }

  isTracked(checkId: string): boolean {
    return this.ttls.has(checkId);
  }

  /** Starts (or restarts) the check's deadline: `ttlMs` from now. */
  track(checkId: string, ttlMs: number): void {
    this.ttls.set(checkId, ttlMs);
    this.arm(checkId, ttlMs);
  }

  /** A report from the client: the deadline moves to `ttl` from now. False for an unknown check. */
  heartbeat(checkId: string): boolean {
    const ttlMs = this.ttls.get(checkId);
    if (ttlMs === undefined) return false;
    this.arm(checkId, ttlMs);
    return true;
  }

  /** Whether the check's deadline is armed (it has not fired since its last heartbeat). */
  isArmed(checkId: string): boolean {
    return this.deadlines.has(checkId);
  }

  /**
   * Moves a tracked check's deadline to epoch ms `at`, earlier or later: in a cluster the owner
   * learns of heartbeats other nodes took, and a node taking a check over learns of the last one.
   */
  armAt(checkId: string, at: number): void {
    if (!this.ttls.has(checkId)) return;
    this.deadlines.set(checkId, at, () => this.onExpire(checkId));
  }

  forget(checkId: string): void {
    this.ttls.delete(checkId);
    this.deadlines.cancel(checkId);
  }

  clear(): void {
    this.ttls.clear();
    this.deadlines.clear();
  }

  private arm(checkId: string, ttlMs: number): void {
    this.deadlines.set(checkId, this.clock.now() + ttlMs, () => this.onExpire(checkId));
  }
}

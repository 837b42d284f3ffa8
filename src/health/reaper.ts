import type { Check } from '../catalog/types.js';
import { parseDuration } from '../duration.js';
import type { Clock } from '../clock.js';
import { Deadlines } from './deadlines.js';

export interface ReapNotice {
  instanceId: string;
  checkId: string;
  /** statusChangedAt of the critical status that ran out. */
  criticalSince: number;
  deregisterCriticalAfterMs: number;
}

/**
 * deregisterCriticalAfter: an instance whose check has been critical that long is removed.
 * The clock starts at the check's statusChangedAt, or at start-up when that is earlier: while
 * the server was down no check ran, so time spent down does not count against an instance
 * (otherwise a long outage of Konsul would deregister everything that was critical when it
 * stopped, the moment it starts).
 */
export class CriticalReaper {
  private readonly deadlines: Deadlines;
  /** When each armed deadline falls, so a note-only update does not re-create its timer. */
  private readonly dueAt = new Map<string, number>();

  constructor(
    clock: Clock,
    private readonly startedAt: number,
    private readonly onExpire: (notice: ReapNotice) => void,
  ) {
    this.deadlines = new Deadlines(clock);
  }

  get size(): number {
    return this.deadlines.size;
  }

  /** Arms, moves or cancels the check's deadline from its current status. */
  observe(check: Check): void {
    const afterMs =
      check.deregisterCriticalAfter === undefined ? undefined : parseDuration(check.deregisterCriticalAfter);
    if (check.status !== 'critical' || afterMs === undefined) {
      this.forget(check.id);
      return;
    }
    const at = Math.max(check.statusChangedAt, this.startedAt) + afterMs;
    if (this.dueAt.get(check.id) === at) return;
    const notice: ReapNotice = {
      instanceId: check.instanceId,
      checkId: check.id,
      criticalSince: check.statusChangedAt,
      deregisterCriticalAfterMs: afterMs,
    };
    this.dueAt.set(check.id, at);
    this.deadlines.set(check.id, at, () => {
      this.dueAt.delete(check.id);
      this.onExpire(notice);
    });
  }

  forget(checkId: string): void {
    this.dueAt.delete(checkId);
    this.deadlines.cancel(checkId);
  }

  clear(): void {
    this.dueAt.clear();
    this.deadlines.clear();
  }
}

/**
 * The recent status changes of the catalog, for the UI's timeline: a ring of at most `capacity`
 * entries in memory, fed by the catalog's events, oldest dropped first. Not stored: a restart
 * (or another node of a cluster) starts with an empty history.
 */
import type { CatalogEvent } from './catalog.js';
import type { HealthStatus } from './types.js';

export interface StatusChange {
  /** Epoch milliseconds, from the catalog's clock. */
  at: number;
  /** The catalog index of the change; null for a check result served before it was stored. */
  index: number | null;
  service: string;
  instanceId: string;
  /** `check`: a check's status changed; `registered` / `deregistered`: the instance came or went. */
  kind: 'check' | 'registered' | 'deregistered';
  checkId: string | null;
  /** The status before (null for a new instance) and after (null for a removed one). */
  from: HealthStatus | null;
  to: HealthStatus | null;
  /** The check's output at the change (empty for registrations and removals). */
  note: string;
}

export class StatusHistory {
  private readonly ring: (StatusChange | undefined)[];
  /** Where the next entry goes; entries before it (mod capacity) are newest first going back. */
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array<StatusChange | undefined>(capacity);
  }

  /** Records what `event` changed; a re-registration that keeps the status and a same-status check result change nothing. */
  observe(event: CatalogEvent, at: number): void {
    switch (event.kind) {
      case 'registered': {
        const from = event.previous?.status ?? null;
        if (from === event.instance.status && event.previous !== undefined) return;
        this.push(
          at,
          event.index,
          event.instance.name,
          event.instance.id,
          'registered',
          null,
          from,
          event.instance.status,
          '',
        );
        return;
      }
      case 'deregistered':
        this.push(
          at,
          event.index,
          event.instance.name,
          event.instance.id,
          'deregistered',
          null,
          event.instance.status,
          null,
          '',
        );
        return;
      case 'check-updated':
        if (event.previousStatus === event.check.status) return;
        this.push(
          at,
          event.index,
          event.instance.name,
          event.instance.id,
          'check',
          event.check.id,
          event.previousStatus,
          event.check.status,
          event.check.note,
        );
        return;
      case 'services-forgotten':
        return;
    }
  }

  /** Newest first, at most `limit`, only `service`'s when given. */
  entries(service?: string, limit: number = this.capacity): StatusChange[] {
    const found: StatusChange[] = [];
    for (let i = 1; i <= this.count && found.length < limit; i++) {
      const entry = this.ring[(this.next - i + this.capacity) % this.capacity]!;
      if (service === undefined || entry.service === service) found.push(entry);
    }
    return found;
  }

  get size(): number {
    return this.count;
  }

  private push(
    at: number,
    index: number | null,
    service: string,
    instanceId: string,
    kind: StatusChange['kind'],
    checkId: string | null,
    from: HealthStatus | null,
    to: HealthStatus | null,
    note: string,
  ): void {
    if (this.capacity === 0) return;
    this.ring[this.next] = { at, index, service, instanceId, kind, checkId, from, to, note };
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }
}

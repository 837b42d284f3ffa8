/**
 * Services whose last instance has left, with when it left, oldest first. The catalog keeps
 * such a service's index for a grace period, so a blocking query on it sees the removal; after
 * that the service is forgotten (its row, its index, the metric series labelled with it), or
 * a stream of unique names would grow memory, the database and /metrics without end. Consul
 * does the same with its tombstones (agent/consul/state/tombstone_gc.go).
 */
export class Tombstones {
  /** Insertion order is time order: mark() moves a name to the end. */
  private readonly since = new Map<string, number>();

  get size(): number {
    return this.since.size;
  }

  mark(name: string, at: number): void {
    this.since.delete(name);
    this.since.set(name, at);
  }

  clear(name: string): void {
    this.since.delete(name);
  }

  /** Up to `limit` names marked at or before `cutoff`, oldest first. */
  due(cutoff: number, limit: number): string[] {
    const names: string[] = [];
    for (const [name, at] of this.since) {
      if (at > cutoff || names.length >= limit) break;
      names.push(name);
    }
    return names;
  }
}

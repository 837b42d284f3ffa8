/**
 * What the etcd store has been through, read by the metrics (src/cluster/metrics.ts) and by
 * contact(). Plain fields and one hook: the store itself does not depend on prom-client.
 */
export class EtcdStats {
  /** Epoch ms of the last successful etcd answer; 0 before the first. */
  lastContactAt = 0;
  /** The newest revision any etcd answer reported. */
  storeRevision = 0;
  relists = 0;
  /** Watches lost (error, cancellation or disconnect), each followed by a re-list. */
  watchBreaks = 0;
  /** Called for every etcd request; the metrics set it to feed a counter and a histogram. */
  onRequest: ((kind: string, seconds: number, ok: boolean) => void) | null = null;

  contact(at: number, revision: number): void {
    this.lastContactAt = at;
    this.sawRevision(revision);
  }

  sawRevision(revision: number): void {
    if (revision > this.storeRevision) this.storeRevision = revision;
  }

  relisted(revision: number): void {
    this.relists++;
    this.sawRevision(revision);
  }

  request(kind: string, seconds: number, ok: boolean): void {
    this.onRequest?.(kind, seconds, ok);
  }
}

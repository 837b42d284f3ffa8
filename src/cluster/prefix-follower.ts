import type { Etcd3, IDuplexStream, IWatchCreateRequest, IWatchRequest, IWatchResponse } from 'etcd3';
import type { Logger } from 'pino';

/** Re-list back-off after a failed listing: from the first to the last, doubling. */
const RELIST_BACKOFF_MS = [100, 250, 500, 1000, 2000];

export interface PrefixFollowerOptions<Listing> {
  client: Etcd3;
  logger: Logger;
  /** What is listed, for the retry log line ("the catalog from etcd", "the cluster members"). */
  what: string;
  /** Reads everything under the followed keys. */
  list: () => Promise<Listing>;
  /** Takes a listing (only the newest one still wanted) and returns the revision it was read at. */
  take: (listing: Listing) => number;
  /** The watch of the same keys from `startRevision`. */
  watchRequest: (startRevision: number) => IWatchCreateRequest;
  /** A watch response with events, or a progress notification; never the creation or the cancellation. */
  onResponse: (response: IWatchResponse) => void;
  /** The watch broke and a new listing follows (for a log line or a counter). */
  onBreak?: (reason: string, error?: Error) => void;
}

/**
 * Keeps a view of a range of etcd keys, as the Kubernetes watch cache does: list, then watch from
 * the listing's revision + 1; any break of the watch (error, end, cancellation: a compacted start
 * revision, a member without leader) means list again, since that is the only resumption that
 * cannot skip an event. A listing or watch superseded by a newer one (or by stop) is dropped.
 *
 * One watch stream of our own rather than etcd3's Watcher: that one resumes a broken watch from
 * the last response header's revision, which can run ahead of the events delivered, and keeps
 * reconnecting after its client is closed.
 */
export class PrefixFollower<Listing> {
  private watch: IDuplexStream<IWatchRequest, IWatchResponse> | null = null;
  private generation = 0;
  private stopped = false;

  constructor(private readonly options: PrefixFollowerOptions<Listing>) {}

  /** Lists until a listing succeeds (or stop), takes it, and watches from it. */
  async start(): Promise<void> {
    await this.listAndWatch();
  }

  /** Drops the watch and lists again (a watch found stale, as well as a broken one). */
  relist(): void {
    if (this.stopped) return;
    this.dropWatch();
    void this.listAndWatch();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    this.dropWatch();
  }

  private async listAndWatch(): Promise<void> {
    const generation = ++this.generation;
    for (let attempt = 0; generation === this.generation; attempt++) {
      try {
        const listing = await this.options.list();
        // A stop or a newer listing may have come while this one was on its way.
        if (generation !== this.generation) return;
        const revision = this.options.take(listing);
        await this.watchFrom(revision + 1, generation);
        return;
      } catch (error) {
        this.options.logger.warn({ err: error, attempt }, `could not list ${this.options.what}; retrying`);
        await new Promise((resolve) =>
          setTimeout(resolve, RELIST_BACKOFF_MS[Math.min(attempt, RELIST_BACKOFF_MS.length - 1)]).unref(),
        );
      }
    }
  }

  private async watchFrom(startRevision: number, generation: number): Promise<void> {
    const stream = await this.options.client.watchClient.watch();
    if (generation !== this.generation) {
      stream.cancel();
      return;
    }
    this.watch = stream;
    const broken = (reason: string, error?: Error) => {
      if (generation !== this.generation || this.stopped) return;
      this.options.onBreak?.(reason, error);
      this.relist();
    };
    stream.on('data', (response: IWatchResponse) => {
      if (generation !== this.generation) return;
      if (response.canceled)
        return broken(`cancelled: ${response.cancel_reason || `compacted at ${response.compact_revision}`}`);
      if (response.created) return;
      this.options.onResponse(response);
    });
    stream.on('error', (error: Error) => broken('stream error', error));
    stream.on('end', () => broken('stream ended'));
    stream.write({ create_request: this.options.watchRequest(startRevision) });
  }

  private dropWatch(): void {
    const stream = this.watch;
    this.watch = null;
    try {
      stream?.cancel();
    } catch {
      // Already closed.
    }
  }
}

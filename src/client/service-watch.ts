/**
 * Keeps one service's instances current: list, then blocking queries from the index the list
 * reported (Kubernetes' list-then-watch; Consul's blocking queries). One watch per service
 * serves every balancer of it. When Konsul cannot be reached the watch keeps the last list it
 * had, says so in its stats, and retries with backoff, failing over between Konsul nodes; the
 * first call after a failure lists again without blocking, so the watch knows at once that
 * Konsul is back (and what changed meanwhile) instead of after a quiet blocking wait.
 * The index never goes back: an answer from a node behind the watch is not applied, unless
 * several in a row say the same, which means the catalog really started afresh (Consul's
 * advice to clients: reset when the index goes backwards).
 *
 * Events: 'update' (the list changed), 'sync' (Konsul answered), 'stale' (a call failed).
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../clock.js';
import type { Instance } from '../catalog/types.js';
import { backoffDelay, Sleeper } from './backoff.js';
import { describe, type KonsulHttp } from './konsul-http.js';
import { parseInstances } from './instance-list.js';

/** Answers behind the watch's index, in a row, after which the catalog is taken to have been reset. */
const BEHIND_LIMIT = 3;

export interface WatchTiming {
  waitMs: number;
  requestTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export interface CatalogStats {
  /** X-Konsul-Index of the list in use; 0 before the first answer. */
  index: number;
  /** True when the last call to Konsul failed: the list in use may be out of date. */
  stale: boolean;
  /** Epoch ms of the first failure of the current outage, or null. */
  staleSince: number | null;
  lastError: string | null;
  /** Answers received. */
  syncs: number;
  /** Calls that failed, in total. */
  errors: number;
  /** Answers behind the watch's index that were not applied. */
  behind: number;
  /** Catalog entries that were not instances and were dropped. */
  dropped: number;
  /** The Konsul node the next call goes to. */
  url: string;
}

const EMPTY: readonly Instance[] = Object.freeze([]);

export class ServiceWatch extends EventEmitter {
  instances: readonly Instance[] = EMPTY;
  synced = false;
  private readonly catalog: CatalogStats;
  private readonly sleeper: Sleeper;
  private closed = false;
  private running: Promise<void> | undefined = undefined;

  constructor(
    readonly service: string,
    private readonly http: KonsulHttp,
    private readonly clock: Clock,
    private readonly random: () => number,
    private readonly timing: WatchTiming,
  ) {
    super();
    this.setMaxListeners(0);
    this.sleeper = new Sleeper(clock);
    this.catalog = {
      index: 0,
      stale: false,
      staleSince: null,
      lastError: null,
      syncs: 0,
      errors: 0,
      behind: 0,
      dropped: 0,
      url: http.url,
    };
  }

  start(): void {
    this.running ??= this.loop();
  }

  stats(): CatalogStats {
    return { ...this.catalog, url: this.http.url };
  }

  /** Resolves once the first list is in (at once when it already is); false when the watch closed first. */
  ready(): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        this.off('update', done);
        this.off('closed', done);
        resolve(this.synced);
      };
      this.on('update', done);
      this.on('closed', done);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sleeper.cancel();
    this.emit('closed');
    // The HTTP call in flight is aborted by KonsulHttp.close(); wait for the loop to see it.
    await this.running;
  }

  /** A method, not the field: the loop's awaits may let close() in. */
  private isClosed(): boolean {
    return this.closed;
  }

  private async loop(): Promise<void> {
    const { waitMs, requestTimeoutMs, retryBaseMs, retryMaxMs } = this.timing;
    const base = `/catalog/services/${encodeURIComponent(this.service)}?health-filter=false`;
    let failures = 0;
    let behind = 0;
    let relist = true;
    while (!this.closed) {
      const catalog = this.catalog;
      // Consul's rule for blocking clients: never send an index below 1, or a catalog at index 0
      // would answer at once, forever.
      const path = relist ? base : `${base}&index=${Math.max(catalog.index, 1)}&wait=${waitMs}ms`;
      // The server holds the query for wait plus up to wait/16 of jitter.
      const timeoutMs = relist ? requestTimeoutMs : waitMs + waitMs / 16 + requestTimeoutMs;
      let delayMs = 0;
      try {
        const answer = await this.http.call({ method: 'GET', path, timeoutMs });
        const parsed = parseInstances(answer.body);
        if (parsed === undefined) throw new Error(`${answer.url} answered something other than a list`);
        const index = answer.index ?? 0;
        failures = 0;
        relist = false;
        catalog.syncs++;
        catalog.stale = false;
        catalog.staleSince = null;
        if (this.synced && index < catalog.index && ++behind < BEHIND_LIMIT) {
          catalog.behind++;
          delayMs = backoffDelay(behind, retryBaseMs, retryMaxMs, this.random);
        } else {
          behind = 0;
          const changed = !this.synced || index !== catalog.index;
          catalog.index = index;
          catalog.dropped += parsed.dropped;
          if (changed) {
            this.instances = parsed.instances;
            this.synced = true;
            this.emit('update');
          }
        }
        this.emit('sync');
      } catch (error) {
        if (this.isClosed()) break;
        failures++;
        relist = true;
        catalog.errors++;
        catalog.stale = true;
        catalog.staleSince ??= this.clock.now();
        catalog.lastError = describe(error);
        delayMs = backoffDelay(failures, retryBaseMs, retryMaxMs, this.random);
        this.emit('stale');
      }
      if (delayMs > 0 && !this.isClosed()) await this.sleeper.sleep(delayMs);
    }
  }
}

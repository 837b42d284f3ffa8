import type { Etcd3, IRequestOp } from 'etcd3';
import type { Logger } from 'pino';
import { prefixEnd, type EtcdKeys } from './etcd-codec.js';

export interface HeartbeatLedgerOptions {
  client: Etcd3;
  keys: EtcdKeys;
  /** This node's member name: each node writes its own key, so no node overwrites a newer heartbeat. */
  node: string;
  requestTimeoutMs: number;
  logger: Logger;
  now?: () => number;
}

/** A TTL check's heartbeat is replicated at most once per this share of its TTL, per node. */
export const HEARTBEAT_SHARE_OF_TTL = 1 / 3;

/** Checks whose last heartbeat one etcd transaction reads (etcd's --max-txn-ops is 128). */
const READS_PER_TXN = 100;

interface Heard {
  /** Newest heartbeat taken here, epoch ms. */
  latest: number;
  /** When this node last wrote the check's key (epoch ms). */
  writtenAt: number;
  ttlMs: number;
  /** The trailing write planned for the heartbeats that came too soon after the last one. */
  timer: NodeJS.Timeout | null;
}

/**
 * TTL heartbeats shared across nodes without an etcd write per heartbeat. A heartbeat taken by
 * any node is written under `heartbeats/<checkId>/<node>` (off the catalog's watch: no index
 * moves, no blocking query wakes): at once when this node has not written the check for a third
 * of its TTL, otherwise once that third has passed (a trailing write carrying the newest one).
 * So the shared time lags the newest heartbeat by at most a third of the TTL, and catches up
 * with it well before the TTL runs out. The check's owner reads it only when its own deadline
 * falls, and turns the check critical only if no node's heartbeat is newer than the TTL.
 */
export class HeartbeatLedger {
  private readonly heard = new Map<string, Heard>();
  private readonly now: () => number;
  private readonly logger: Logger;
  private reads = new Map<string, { resolve: (at: number | null) => void; reject: (error: Error) => void }[]>();
  private readScheduled = false;
  private closed = false;
  private lastWarnAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: HeartbeatLedgerOptions) {
    this.now = options.now ?? Date.now;
    this.logger = options.logger.child({ component: 'heartbeats' });
  }

  /** Checks with a heartbeat remembered here (at most one entry per TTL check of the catalog). */
  get size(): number {
    return this.heard.size;
  }

  record(checkId: string, at: number, ttlMs: number): void {
    if (this.closed) return;
    let entry = this.heard.get(checkId);
    if (entry === undefined) {
      entry = { latest: at, writtenAt: Number.NEGATIVE_INFINITY, ttlMs, timer: null };
      this.heard.set(checkId, entry);
    }
    entry.latest = Math.max(entry.latest, at);
    entry.ttlMs = ttlMs;
    // A planned trailing write will carry this heartbeat too.
    if (entry.timer !== null) return;
    const wait = entry.writtenAt + ttlMs * HEARTBEAT_SHARE_OF_TTL - this.now();
    if (wait <= 0) void this.write(checkId, entry);
    else this.planWrite(checkId, entry, wait);
  }

  /** The newest heartbeat any node wrote for the check; reads of one tick share a transaction. */
  lastHeartbeat(checkId: string): Promise<number | null> {
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const waiting = this.reads.get(checkId);
      if (waiting === undefined) this.reads.set(checkId, [{ resolve, reject }]);
      else waiting.push({ resolve, reject });
      if (this.readScheduled) return;
      this.readScheduled = true;
      setImmediate(() => void this.readAll());
    });
  }

  /** Forgets the check here; the owner (`remove`) also deletes every node's record of it. */
  forget(checkId: string, remove: boolean): void {
    const entry = this.heard.get(checkId);
    if (entry?.timer) clearTimeout(entry.timer);
    this.heard.delete(checkId);
    if (!remove || this.closed) return;
    const key = this.prefixOf(checkId);
    this.options.client.kv
      .deleteRange({ key: Buffer.from(key), range_end: prefixEnd(key) }, { deadline: this.deadline() })
      .catch((error: unknown) => this.warn(error, checkId, 'could not delete a removed check’s heartbeats'));
  }

  /**
   * Writes the heartbeats still waiting for their third of the TTL (a node that stops cleanly
   * leaves the newest time it took, so the check's owner does not expire it early), then stops.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    const waiting: Promise<void>[] = [];
    for (const [checkId, entry] of this.heard) {
      if (entry.timer === null) continue;
      clearTimeout(entry.timer);
      entry.timer = null;
      waiting.push(this.write(checkId, entry));
    }
    this.closed = true;
    await Promise.all(waiting);
    this.heard.clear();
    for (const waiting of this.reads.values()) for (const { resolve } of waiting) resolve(null);
    this.reads.clear();
  }

  private planWrite(checkId: string, entry: Heard, wait: number): void {
    entry.timer = setTimeout(() => {
      entry.timer = null;
      if (this.heard.get(checkId) === entry) void this.write(checkId, entry);
    }, wait);
    entry.timer.unref();
  }

  private write(checkId: string, entry: Heard): Promise<void> {
    entry.writtenAt = this.now();
    const at = entry.latest;
    const { client, keys, node } = this.options;
    // Only while the check exists: a heartbeat racing its deregistration must not leave a key behind.
    return client.kv
      .txn(
        {
          compare: [{ key: keys.check(checkId), target: 'Create', result: 'Greater', create_revision: 0 }],
          success: [
            { request_put: { key: Buffer.from(this.prefixOf(checkId) + node), value: Buffer.from(String(at)) } },
          ],
        },
        { deadline: this.deadline() },
      )
      .catch((error: unknown) => {
        this.warn(error, checkId, 'could not replicate a TTL heartbeat; trying again');
        if (this.heard.get(checkId) === entry && entry.timer === null && !this.closed)
          this.planWrite(checkId, entry, entry.ttlMs * HEARTBEAT_SHARE_OF_TTL);
      })
      .then(() => undefined);
  }

  private async readAll(): Promise<void> {
    this.readScheduled = false;
    const reads = this.reads;
    this.reads = new Map();
    const checkIds = [...reads.keys()];
    for (let start = 0; start < checkIds.length; start += READS_PER_TXN) {
      const chunk = checkIds.slice(start, start + READS_PER_TXN);
      const ranges: IRequestOp[] = chunk.map((checkId) => {
        const key = this.prefixOf(checkId);
        return { request_range: { key: Buffer.from(key), range_end: prefixEnd(key) } };
      });
      try {
        const response = await this.options.client.kv.txn({ success: ranges }, { deadline: this.deadline() });
        chunk.forEach((checkId, position) => {
          let newest: number | null = null;
          for (const kv of response.responses[position]?.response_range?.kvs ?? []) {
            const at = Number(kv.value.toString('utf8'));
            if (Number.isFinite(at) && (newest === null || at > newest)) newest = at;
          }
          for (const { resolve } of reads.get(checkId)!) resolve(newest);
        });
      } catch (error) {
        for (const checkId of chunk) for (const { reject } of reads.get(checkId)!) reject(error as Error);
      }
    }
  }

  private prefixOf(checkId: string): string {
    return `${this.options.keys.heartbeats}${checkId}/`;
  }

  private deadline(): Date {
    return new Date(Date.now() + this.options.requestTimeoutMs);
  }

  /** One line per 10 s at most: an etcd outage fails every heartbeat write at once. */
  private warn(error: unknown, checkId: string, message: string): void {
    const now = this.now();
    if (now - this.lastWarnAt < 10_000) return;
    this.lastWarnAt = now;
    this.logger.warn({ err: error, checkId }, message);
  }
}

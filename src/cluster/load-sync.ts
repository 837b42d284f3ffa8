import type { Etcd3, IKeyValue, IRangeResponse, IRequestOp } from 'etcd3';
import type { Logger } from 'pino';
import type { SharedLoad } from '../lb/manager.js';
import { prefixEnd } from './etcd-codec.js';
import { PrefixFollower } from './prefix-follower.js';

export interface LoadSyncOptions {
  client: Etcd3;
  /** The cluster's key prefix (store.etcd.prefix); load keys live under `<prefix>load/`. */
  prefix: string;
  nodeName: string;
  /** How often pending reports are written (store.etcd.loadFlushInterval). */
  flushIntervalMs: number;
  /** Instances with a report waiting to be written; a report for one more is not shared (store.etcd.loadMaxPending). */
  maxPending: number;
  /** etcd's --max-txn-ops: one flush writes this many instances per transaction. */
  maxOpsPerTxn: number;
  requestTimeoutMs: number;
  logger: Logger;
  /** Takes a load a node (another, or this one earlier) wrote. */
  apply(instanceId: string, load: SharedLoad): void;
  /** Whether the catalog holds the instance: a report for one that left is not written. */
  known(instanceId: string): boolean;
}

const CODEC_VERSION = 1;

interface StoredLoad {
  v: number;
  /** Connections. */
  c: number;
  /** Latency average in ms, or null before any latency report. */
  l: number | null;
  /** The node that received the report. */
  n: string;
}

/**
 * Shares load reports (`PUT /catalog/instances/:id/load`) between cluster nodes. A report is
 * applied at once on the node that takes it and queued; every flush interval the node writes
 * what is queued, one key per instance (`<prefix>load/<id>`, the instance's load after its last
 * report), as one etcd transaction per `maxOpsPerTxn` instances: a thousand reports on one
 * instance in one interval are one put. Every node lists and watches the load keys and takes
 * what they hold, so every node ends with the value of the last write etcd ordered: the same
 * load everywhere, whichever node each report went to.
 *
 * The queue is a map keyed by instance (a newer report replaces the queued one), bounded by
 * `maxPending` instances; a report for one more instance while it is full is applied here and
 * not shared (counted in `dropped`). A failed flush puts its reports back unless newer ones came.
 */
export class LoadSync {
  private readonly loadPrefix: string;
  private pending = new Map<string, SharedLoad>();
  /** Load keys etcd holds, by instance: who wrote each and at which revision (to delete one whose instance left). */
  private readonly held = new Map<string, { node: string; revision: number }>();
  /** Instances in a flush on its way to etcd, and the newest other write seen for each meanwhile. */
  private readonly inFlight = new Map<string, { revision: number; load: SharedLoad } | null>();
  /** Revision of this node's last write per instance, until the watch has delivered it: older events are stale here. */
  private readonly ownRevision = new Map<string, number>();
  /** Instances that left while their load key is this node's: deleted by the next flush. */
  private readonly leaving = new Set<string>();
  private readonly follower: PrefixFollower<IRangeResponse>;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  /** Reports not shared because the queue was full. */
  dropped = 0;
  /** Transactions written, and those etcd refused or did not answer. */
  flushes = 0;
  failedFlushes = 0;

  constructor(private readonly options: LoadSyncOptions) {
    this.loadPrefix = `${options.prefix}load/`;
    const range = () => ({ key: Buffer.from(this.loadPrefix), range_end: prefixEnd(this.loadPrefix) });
    this.follower = new PrefixFollower({
      client: options.client,
      logger: options.logger,
      what: 'load reports from etcd',
      list: () => options.client.kv.range(range(), { deadline: new Date(Date.now() + options.requestTimeoutMs) }),
      take: (page) => {
        this.held.clear();
        for (const kv of page.kvs) this.take(kv);
        return Number(page.header.revision);
      },
      watchRequest: (startRevision) => ({ ...range(), start_revision: startRevision }),
      onResponse: (response) => {
        for (const event of response.events) {
          if (event.type === 'Delete') this.held.delete(this.idOf(event.kv));
          else this.take(event.kv);
        }
      },
    });
  }

  /** Lists the load keys, applies them, watches them, and starts flushing. */
  async start(): Promise<void> {
    await this.follower.start();
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** A report this node took (already applied here), with the instance's load after it. */
  reported(instanceId: string, load: SharedLoad): void {
    if (this.closed) return;
    if (!this.pending.has(instanceId) && this.pending.size >= this.options.maxPending) {
      this.dropped++;
      return;
    }
    this.pending.set(instanceId, load);
  }

  /** The instance left the catalog: drop its queued report, and its load key if this node wrote it last. */
  forget(instanceId: string): void {
    this.pending.delete(instanceId);
    this.ownRevision.delete(instanceId);
    const held = this.held.get(instanceId);
    if (held !== undefined && held.node === this.options.nodeName) this.leaving.add(instanceId);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Writes what is queued now (also what the timer does); resolves when written or failed. */
  async flush(): Promise<void> {
    // One flush at a time: a slow etcd must not stack transactions up.
    while (this.flushing !== null) await this.flushing;
    this.flushing = this.writePending().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    await this.flushing?.catch(() => undefined);
    this.follower.stop();
  }

  private async writePending(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    const puts: [string, SharedLoad][] = [];
    for (const entry of batch) if (this.options.known(entry[0])) puts.push(entry);
    const deletes = [...this.leaving];
    this.leaving.clear();
    const limit = this.options.maxOpsPerTxn;
    for (let start = 0; start < puts.length; start += limit) {
      const chunk = puts.slice(start, start + limit);
      const success: IRequestOp[] = chunk.map(([id, load]) => ({
        request_put: { key: Buffer.from(this.loadPrefix + id), value: this.encode(load) },
      }));
      for (const [id] of chunk) this.inFlight.set(id, null);
      const revision = await this.commit(success, []);
      for (const [id] of chunk) {
        const seen = this.inFlight.get(id);
        this.inFlight.delete(id);
        if (revision === null) continue;
        // A write etcd ordered after ours arrived while ours was on its way: it wins.
        if (seen != null && seen.revision > revision) this.options.apply(id, seen.load);
        else this.ownRevision.set(id, revision);
      }
      if (revision === null) {
        // etcd is not taking writes: stop here rather than wait out a timeout per chunk (a
        // stop flushes too, and must end in one request timeout). What is left goes back in the
        // queue, unless a newer report for the instance came meanwhile.
        for (const [id, load] of puts.slice(start)) this.requeue(id, load);
        for (const id of deletes) this.leaving.add(id);
        return;
      }
    }
    // Each delete compares the revision this node saw, so a report written since survives.
    for (const [i, id] of deletes.entries()) {
      const held = this.held.get(id);
      if (held === undefined || held.node !== this.options.nodeName) continue;
      const key = Buffer.from(this.loadPrefix + id);
      const deleted =
        null !==
        (await this.commit(
          [{ request_delete_range: { key } }],
          [{ key, target: 'Mod', result: 'Equal', mod_revision: held.revision }],
        ));
      if (!deleted) {
        for (const left of deletes.slice(i)) this.leaving.add(left);
        return;
      }
    }
  }

  /** A report a failed flush gives back, unless a newer one came or the queue is full again. */
  private requeue(id: string, load: SharedLoad): void {
    if (this.pending.has(id)) return;
    if (this.pending.size >= this.options.maxPending) {
      this.dropped++;
      return;
    }
    this.pending.set(id, load);
  }

  private async commit(
    success: IRequestOp[],
    compare: { key: Buffer; target: 'Mod'; result: 'Equal'; mod_revision: number }[],
  ): Promise<number | null> {
    try {
      const response = await this.options.client.kv.txn(
        { compare, success },
        { deadline: new Date(Date.now() + this.options.requestTimeoutMs) },
      );
      this.flushes++;
      return Number(response.header.revision);
    } catch (error) {
      this.failedFlushes++;
      this.options.logger.warn({ err: error }, 'could not write load reports to etcd; trying again next flush');
      return null;
    }
  }

  private encode(load: SharedLoad): Buffer {
    const stored: StoredLoad = { v: CODEC_VERSION, c: load.connections, l: load.latencyMs, n: this.options.nodeName };
    return Buffer.from(JSON.stringify(stored));
  }

  private idOf(kv: IKeyValue): string {
    return kv.key.toString('utf8').slice(this.loadPrefix.length);
  }

  private take(kv: IKeyValue): void {
    const id = this.idOf(kv);
    let stored: StoredLoad;
    try {
      stored = JSON.parse(kv.value.toString('utf8')) as StoredLoad;
      if (
        stored.v !== CODEC_VERSION ||
        typeof stored.c !== 'number' ||
        !(stored.c >= 0) ||
        (stored.l !== null && !(typeof stored.l === 'number' && stored.l >= 0)) ||
        typeof stored.n !== 'string'
      )
        throw new Error(`not a Konsul load report of codec version ${CODEC_VERSION}`);
    } catch (error) {
      this.options.logger.error({ err: error, key: kv.key.toString('utf8') }, 'skipping a load key Konsul cannot read');
      return;
    }
    const revision = Number(kv.mod_revision);
    this.held.set(id, { node: stored.n, revision });
    const load = { connections: stored.c, latencyMs: stored.l };
    // A report of this node waiting for the next flush will be ordered after anything seen now.
    if (this.pending.has(id)) return;
    if (this.inFlight.has(id)) {
      // Older or newer than the write on its way: decided when its revision is known.
      const seen = this.inFlight.get(id);
      if (seen == null || revision > seen.revision) this.inFlight.set(id, { revision, load });
      return;
    }
    const own = this.ownRevision.get(id);
    if (own !== undefined) {
      if (revision < own) return;
      this.ownRevision.delete(id);
    }
    // Applied even for an instance this node's catalog has not seen yet: the two watches are
    // separate streams, and the registration may arrive just after its first load.
    this.options.apply(id, load);
  }
}

import { Etcd3, type ICompare, type IKeyValue, type IRequestOp, type IWatchResponse } from 'etcd3';
import type { Logger } from 'pino';
import { Errors } from '../errors.js';
import type { Instance, ServiceConfigEntry } from '../catalog/types.js';
import {
  isConfigWrite,
  type ConditionalCommit,
  type ReplicaChange,
  type ReplicaFeed,
  type ReplicatedConfigWrite,
  type ReplicatedStore,
  type ReplicatedWrite,
  type StoreContact,
  type ClusterView,
} from '../catalog/store.js';
import { decodeConfig, decodeInstance, encodeConfig, encodeInstance, EtcdKeys, prefixEnd } from './etcd-codec.js';
import { EtcdStats } from './etcd-stats.js';
import { decodeMember } from './membership.js';
import { PrefixFollower } from './prefix-follower.js';

/** One consistent read of the catalog: every instance and config at one revision. */
interface CatalogListing {
  revision: number;
  instances: Instance[];
  configs: ServiceConfigEntry[];
}

export interface EtcdStoreOptions {
  endpoints: readonly string[];
  /** Every key Konsul writes starts with this; nodes of one cluster share it. */
  prefix: string;
  /** Bound on every etcd request: a write not committed by then fails with 503 storage_unavailable. */
  requestTimeoutMs: number;
  /** How often the node checks that etcd (with a leader) answers; also bounds how stale KnownLeader is. */
  probeIntervalMs: number;
  /** Instances per page of a listing (a catalog larger than one gRPC message is read in pages). */
  listPageSize?: number;
  logger: Logger;
  now?: () => number;
}

/**
 * The catalog in etcd. Follows the Kubernetes watch cache: one paged listing pinned at one
 * revision, then one prefix watch from that revision + 1 feeding the node's view; a watch that
 * breaks for any reason (compaction, lost leader, member down) is dropped and the node lists
 * again, so a reader may see a spurious wake-up but never misses a change. Writes are
 * transactions that compare the revisions the write was computed from.
 */
export class EtcdStore implements ReplicatedStore {
  readonly replicated = true as const;
  /** etcd's --max-txn-ops default is 128; compares count too. */
  readonly maxOpsPerCommit = 128;
  readonly location: string;
  readonly keys: EtcdKeys;
  readonly stats = new EtcdStats();
  readonly client: Etcd3;
  private readonly logger: Logger;
  private readonly now: () => number;
  private feed: ReplicaFeed | null = null;
  /** The catalog's keys, listed and watched: every change reaches the feed through it. */
  private readonly follower: PrefixFollower<CatalogListing>;
  private probeTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** The highest revision this node's view has been fed up to. */
  private fedRevision = 0;
  /** Since when the store's revision (seen by the probe) has been ahead of the fed revision. */
  private behindSince: number | null = null;
  /** What the last probe saw of the cluster. */
  private view: ClusterView = { members: [], etcdLeader: null, etcdMembers: [] };

  constructor(private readonly options: EtcdStoreOptions) {
    this.location = `etcd ${options.endpoints.join(',')} prefix ${options.prefix}`;
    this.keys = new EtcdKeys(options.prefix);
    this.logger = options.logger.child({ component: 'etcd' });
    this.now = options.now ?? Date.now;
    this.client = new Etcd3({
      hosts: [...options.endpoints],
      dialTimeout: options.requestTimeoutMs,
      // Keep gRPC from holding a call on a dead connection past our own deadline.
      grpcOptions: { 'grpc.keepalive_time_ms': 2000, 'grpc.keepalive_timeout_ms': 1000 },
    });
    requireLeader(this.client);
    this.follower = new PrefixFollower({
      client: this.client,
      logger: this.logger,
      what: 'the catalog from etcd',
      list: async () => {
        const { revision, instances } = await this.list();
        return { revision, instances, configs: await this.listConfigs(revision) };
      },
      take: ({ revision, instances, configs }) => {
        this.fedRevision = Math.max(this.fedRevision, revision);
        this.behindSince = null;
        this.feed!.reset(revision, instances, configs);
        return revision;
      },
      watchRequest: (startRevision) => ({
        // Configs and instances in one range (see etcd-codec.ts), so their changes arrive in revision order.
        key: Buffer.from(this.keys.configs),
        range_end: prefixEnd(this.keys.instances),
        start_revision: startRevision,
        // Progress notifications tell a quiet watch it is still current, and let the view's
        // index follow the store's revision without a change of ours.
        progress_notify: true,
      }),
      onResponse: (response) => this.onWatchResponse(response),
      // etcd cancels a watch whose start revision was compacted away, or whose member lost its
      // leader (we send hasleader); either way the only safe resumption is a new listing.
      onBreak: (reason, error) => {
        this.logger.warn({ err: error, reason }, 'etcd watch broke; listing the catalog again');
        this.stats.watchBreaks++;
      },
    });
  }

  contact(): StoreContact {
    const lastContactAt = this.stats.lastContactAt;
    const sinceContact = lastContactAt === 0 ? Infinity : this.now() - lastContactAt;
    return {
      knownLeader: sinceContact <= this.options.probeIntervalMs * 2 + this.options.requestTimeoutMs,
      lastContactMs: Number.isFinite(sinceContact) ? sinceContact : -1,
      storeRevision: this.stats.storeRevision,
      viewRevision: this.fedRevision,
    };
  }

  /** Live Konsul members and the etcd cluster, as of the last probe. */
  cluster(): ClusterView {
    return this.view;
  }

  /** Probes now rather than at the next interval (after joining, so the start-up line counts this node). */
  refreshCluster(): Promise<void> {
    return this.probe();
  }

  async follow(feed: ReplicaFeed): Promise<void> {
    this.feed = feed;
    await this.follower.start();
    await this.probe();
    this.probeTimer = setInterval(() => void this.probe(), this.options.probeIntervalMs);
    this.probeTimer.unref();
  }

  async commitIf(writes: readonly (ReplicatedWrite | ReplicatedConfigWrite)[]): Promise<ConditionalCommit> {
    const compare: ICompare[] = [];
    const success: IRequestOp[] = [];
    const fences = new Map<string, number>();
    for (const write of writes) {
      if (isConfigWrite(write)) {
        const key = this.keys.config(write.name);
        success.push(
          write.config === null
            ? { request_delete_range: { key } }
            : { request_put: { key, value: encodeConfig(write.name, write.config) } },
        );
        continue;
      }
      const { id, instance, expected } = write;
      if (expected.fence !== undefined) fences.set(expected.fence.member, expected.fence.createRevision);
      const instanceKey = this.keys.instance(id);
      compare.push({ key: instanceKey, target: 'Mod', result: 'Equal', mod_revision: expected.instanceIndex });
      // A check id is free when its key does not exist (a missing key's create revision is 0).
      for (const checkId of expected.claimedCheckIds)
        compare.push({ key: this.keys.check(checkId), target: 'Create', result: 'Equal', create_revision: 0 });
      if (instance === null) {
        success.push({ request_delete_range: { key: instanceKey } });
      } else {
        success.push({ request_put: { key: instanceKey, value: encodeInstance(instance) } });
        const owner = Buffer.from(id);
        for (const checkId of expected.claimedCheckIds)
          success.push({ request_put: { key: this.keys.check(checkId), value: owner } });
      }
      for (const checkId of expected.releasedCheckIds)
        success.push({ request_delete_range: { key: this.keys.check(checkId) } });
    }
    // A fenced write commits only while its writer's membership key is the one it joined with.
    for (const [member, createRevision] of fences)
      compare.push({
        key: this.keys.member(member),
        target: 'Create',
        result: 'Equal',
        create_revision: createRevision,
      });
    // On refusal the failure branch reads every compared key back: their revisions say what beat
    // the write (the store's revision may be far ahead of it, moved by keys the catalog's watch
    // does not carry, such as heartbeats), and the member keys tell a lost membership from a race.
    const failure: IRequestOp[] = compare.map(({ key }) => ({ request_range: { key: key! } }));
    const response = await this.call('txn', () =>
      this.client.kv.txn({ compare, success, failure }, { deadline: this.deadline() }),
    );
    const index = Number(response.header.revision);
    if (response.succeeded) return { committed: true, index };
    return refusal(compare, response.responses, index);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.probeTimer !== null) clearInterval(this.probeTimer);
    this.follower.stop();
    this.client.close();
  }

  // ---- listing and watching ------------------------------------------------------------------

  /** Every instance, read page by page at the revision of the first page. */
  private async list(): Promise<{ revision: number; instances: Instance[] }> {
    const end = prefixEnd(this.keys.instances);
    const limit = this.options.listPageSize ?? 5000;
    const instances: Instance[] = [];
    let key = Buffer.from(this.keys.instances);
    let revision = 0;
    for (;;) {
      const page = await this.call('range', () =>
        this.client.kv.range(
          { key, range_end: end, limit, ...(revision === 0 ? {} : { revision }) },
          { deadline: this.deadline() },
        ),
      );
      if (revision === 0) revision = Number(page.header.revision);
      for (const kv of page.kvs) {
        const instance = this.decode(kv);
        if (instance !== null) instances.push(instance);
      }
      if (!page.more || page.kvs.length === 0) break;
      key = Buffer.concat([page.kvs[page.kvs.length - 1].key, Buffer.from([0])]);
    }
    this.stats.relisted(revision);
    return { revision, instances };
  }

  /** Every service config at `revision` (the instances listing's): few and small, one range. */
  private async listConfigs(revision: number): Promise<ServiceConfigEntry[]> {
    const response = await this.call('range', () =>
      this.client.kv.range(
        { key: Buffer.from(this.keys.configs), range_end: prefixEnd(this.keys.configs), revision },
        { deadline: this.deadline() },
      ),
    );
    return response.kvs.flatMap((kv) => this.decodeConfigKey(kv) ?? []);
  }

  private onWatchResponse(response: IWatchResponse): void {
    const headerRevision = Number(response.header.revision);
    this.stats.contact(this.now(), headerRevision);
    if (response.events.length === 0) {
      // A progress notification: nothing at or below this revision is left to deliver.
      if (headerRevision > this.fedRevision) {
        this.fedRevision = headerRevision;
        this.feed!.progress(headerRevision);
      }
      return;
    }
    // Events of one transaction share a modify revision and are applied together. The header
    // revision is not used here: a catching-up watch may send it ahead of events still to come.
    let batch: ReplicaChange[] = [];
    let batchRevision = 0;
    for (const event of response.events) {
      const revision = Number(event.kv.mod_revision);
      if (revision !== batchRevision && batch.length > 0) {
        this.feedApply(batchRevision, batch);
        batch = [];
      }
      batchRevision = revision;
      const key = event.kv.key.toString('utf8');
      if (key.startsWith(this.keys.configs)) {
        const name = key.slice(this.keys.configs.length);
        if (event.type === 'Delete') batch.push({ kind: 'config', name, config: null });
        else {
          const entry = this.decodeConfigKey(event.kv);
          if (entry !== null) batch.push({ kind: 'config', name, config: entry });
        }
        continue;
      }
      // Anything else in the range is no key of ours (nothing sorts between the two today).
      if (!key.startsWith(this.keys.instances)) continue;
      const id = key.slice(this.keys.instances.length);
      if (event.type === 'Delete') {
        batch.push({ kind: 'delete', id });
      } else {
        const instance = this.decode(event.kv);
        if (instance !== null) batch.push({ kind: 'put', instance });
      }
    }
    if (batchRevision > 0) this.feedApply(batchRevision, batch);
  }

  private feedApply(revision: number, changes: readonly ReplicaChange[]): void {
    if (revision <= this.fedRevision) return;
    this.fedRevision = revision;
    this.feed!.apply(revision, changes);
  }

  private relist(): void {
    if (this.closed) return;
    this.stats.watchBreaks++;
    this.follower.relist();
  }

  /**
   * A linearizable read every probe interval: it tells KnownLeader and LastContact, measures the
   * watch lag, and catches a watch that went quiet while the store moved on (a member cut off
   * from the leader can keep a watch open and silent): behind for longer than two progress
   * intervals means list again.
   */
  private async probe(): Promise<void> {
    if (this.closed) return;
    try {
      const response = await this.call('range', () =>
        this.client.kv.range(
          { key: this.keys.member(''), range_end: prefixEnd(this.keys.members) },
          { deadline: this.deadline() },
        ),
      );
      const members = response.kvs.flatMap((kv) => decodeMember(kv.value) ?? []);
      const revision = Number(response.header.revision);
      const [status, list] = await Promise.all([
        this.call('status', () => this.client.maintenance.status({ deadline: this.deadline() })),
        this.call('member-list', () => this.client.cluster.memberList({}, { deadline: this.deadline() })),
      ]);
      const hostOf = (url: string | undefined) =>
        url === undefined ? null : url.replace(/^https?:\/\//, '').replace(/\/$/, '');
      const leader = list.members.find((member) => member.ID === status.leader);
      this.view = {
        members: members.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
        etcdLeader: status.leader === '0' ? null : hostOf(leader?.clientURLs[0]),
        etcdMembers: list.members.flatMap((member) => hostOf(member.clientURLs[0]) ?? []),
      };
      if (revision > this.fedRevision) {
        this.behindSince ??= this.now();
        if (this.now() - this.behindSince > STALL_RELIST_MS) {
          this.behindSince = null;
          this.logger.warn(
            { storeRevision: revision, viewRevision: this.fedRevision },
            'etcd watch is behind and silent; listing the catalog again',
          );
          this.relist();
        }
      } else {
        this.behindSince = null;
      }
    } catch {
      // Counted by call(); KnownLeader turns false once contact is older than the bound.
    }
  }

  // ---- plumbing ------------------------------------------------------------------------------

  private decode(kv: IKeyValue): Instance | null {
    try {
      return decodeInstance(kv.value, Number(kv.create_revision), Number(kv.mod_revision));
    } catch (error) {
      this.logger.error({ err: error, key: kv.key.toString('utf8') }, 'skipping an etcd key Konsul cannot read');
      return null;
    }
  }

  private decodeConfigKey(kv: IKeyValue): ServiceConfigEntry | null {
    try {
      return decodeConfig(kv.value, Number(kv.mod_revision));
    } catch (error) {
      this.logger.error({ err: error, key: kv.key.toString('utf8') }, 'skipping an etcd key Konsul cannot read');
      return null;
    }
  }

  private deadline(): Date {
    return new Date(this.now() + this.options.requestTimeoutMs);
  }

  /** One etcd request, bounded in time, counted and timed; any failure becomes 503 storage_unavailable. */
  private async call<T extends { header: { revision: string } }>(kind: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const response = await Promise.race([
        run(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${this.options.requestTimeoutMs} ms`)),
            this.options.requestTimeoutMs,
          );
        }),
      ]);
      this.stats.request(kind, (performance.now() - started) / 1000, true);
      this.stats.contact(this.now(), Number(response.header.revision));
      return response;
    } catch (error) {
      this.stats.request(kind, (performance.now() - started) / 1000, false);
      const unknown = kind === 'txn' ? '; it may still be applied if etcd had logged it before failing' : '';
      throw Errors.storageUnavailable(`etcd ${kind} failed: ${(error as Error).message}${unknown}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

type RangeAnswer = { response_range?: { kvs?: IKeyValue[] } };

/**
 * What a refused commitIf tells its writer: the revision its view must reach before computing
 * the write again (the newest of the compared keys; the store's own when a key the write expected
 * was deleted, at a revision a range cannot tell), and whether a fence refused it.
 */
function refusal(
  compare: readonly ICompare[],
  answers: readonly RangeAnswer[],
  storeRevision: number,
): ConditionalCommit {
  let index = 0;
  let fenced = false;
  for (const [position, condition] of compare.entries()) {
    // etcd3 leaves an empty kvs undefined: a missing key reads as revision 0.
    const kv = (answers[position] as RangeAnswer | undefined)?.response_range?.kvs?.[0];
    if (condition.target === 'Create' && condition.create_revision !== 0) {
      if (Number(kv?.create_revision ?? 0) !== Number(condition.create_revision)) fenced = true;
      continue;
    }
    if (kv === undefined && Number(condition.mod_revision ?? 0) !== 0) index = storeRevision;
    index = Math.max(index, Number(kv?.mod_revision ?? 0));
  }
  return { committed: false, index, ...(fenced ? { fenced } : {}) };
}

/** A watch may lag the store by up to the progress interval (5 s in our etcd flags) before it is suspect. */
const STALL_RELIST_MS = 11_000;

/**
 * Sends gRPC metadata `hasleader: true` on every call. Without it a member cut off from the
 * leader keeps a watch open and silent, and answers nothing useful; with it etcd refuses calls
 * and cancels watches while it has no leader, which is what turns into 503 and a re-list here.
 * etcd3 has no option for call metadata, so its authenticator's metadata is wrapped.
 */
function requireLeader(client: Etcd3): void {
  interface Metadata {
    clone(): Metadata;
    set(key: string, value: string): void;
  }
  const authenticator = (client as unknown as { pool?: { authenticator?: { getMetadata?: () => Promise<Metadata> } } })
    .pool?.authenticator;
  const original = authenticator?.getMetadata;
  if (authenticator === undefined || original === undefined) return;
  authenticator.getMetadata = async () => {
    const metadata = (await original.call(authenticator)).clone();
    metadata.set('hasleader', 'true');
    return metadata;
  };
}

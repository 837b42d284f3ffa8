import { EventEmitter } from 'node:events';
import type { Etcd3, IRangeResponse, Lease } from 'etcd3';
import type { Logger } from 'pino';
import type { ClusterMember as MemberRecord, WriteFence } from '../catalog/store.js';
import { prefixEnd, type EtcdKeys } from './etcd-codec.js';
import { PrefixFollower } from './prefix-follower.js';

/**
 * This node's key on an etcd lease, and the live members (the keys that exist), followed by one
 * list and one prefix watch. Instances are never attached to leases (a stalled leader can
 * revoke many at once, etcd issue 15247): only these keys are.
 *
 * The node counts itself a member only while its key exists with the create revision it joined
 * with and its lease was renewed within the TTL: etcd3 reports a lost lease only after twice
 * the TTL, by which time the others have taken its checks over. That create revision is the
 * fencing token its check writes carry.
 */
export class Membership {
  private lease: Lease | null = null;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  private record: MemberRecord | null = null;
  /** Create revision of this node's key, once written; 0 while it is not. */
  private joinedRevision = 0;
  /** Epoch ms until which the lease is surely alive (last renewal + TTL). */
  private validUntil = 0;
  private expiry: NodeJS.Timeout | null = null;
  /** Live members: name → create revision of their key. */
  private live = new Map<string, number>();
  /** The member keys, listed and watched. */
  private readonly follower: PrefixFollower<IRangeResponse>;
  private readonly changes = new EventEmitter();

  constructor(
    private readonly client: Etcd3,
    private readonly keys: EtcdKeys,
    readonly name: string,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.changes.setMaxListeners(0);
    const range = () => ({ key: Buffer.from(keys.members), range_end: prefixEnd(keys.members) });
    const nameOf = (key: Buffer) => key.toString('utf8').slice(keys.members.length);
    this.follower = new PrefixFollower({
      client,
      logger,
      what: 'the cluster members',
      list: () => client.kv.range(range()),
      take: (listing) => {
        this.live = new Map(listing.kvs.map((kv) => [nameOf(kv.key), Number(kv.create_revision)]));
        this.changes.emit('change');
        this.checkSelf();
        return Number(listing.header.revision);
      },
      watchRequest: (startRevision) => ({ ...range(), start_revision: startRevision }),
      onResponse: (response) => {
        let changed = false;
        for (const event of response.events) {
          const name = nameOf(event.kv.key);
          const known = this.live.get(name);
          // This node records its own new key before the watch delivers the old one's deletion.
          if (event.type === 'Delete') {
            if (known !== undefined && known < Number(event.kv.mod_revision)) {
              this.live.delete(name);
              changed = true;
            }
          } else if (known === undefined || known < Number(event.kv.create_revision)) {
            this.live.set(name, Number(event.kv.create_revision));
            changed = true;
          }
        }
        if (!changed) return;
        this.changes.emit('change');
        this.checkSelf();
      },
    });
  }

  /** Writes this node's key, then follows the member list. */
  async start(record: Omit<MemberRecord, 'name'>): Promise<void> {
    this.record = { name: this.name, ...record };
    await this.join();
    await this.follower.start();
  }

  /** Live member names, sorted; null while this node is not one of them. */
  members(): readonly string[] | null {
    if (!this.isMember()) return null;
    return [...this.live.keys()].sort();
  }

  fence(): WriteFence | null {
    return this.isMember() ? { member: this.name, createRevision: this.joinedRevision } : null;
  }

  onChange(listener: () => void): () => void {
    this.changes.on('change', listener);
    return () => this.changes.off('change', listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.follower.stop();
    if (this.retry !== null) clearTimeout(this.retry);
    if (this.expiry !== null) clearTimeout(this.expiry);
    const lease = this.lease;
    this.lease = null;
    this.joinedRevision = 0;
    this.changes.emit('change');
    // Revoking removes the key at once, so the others stop counting this node without waiting for the TTL.
    await lease?.revoke().catch(() => lease.release());
  }

  private isMember(): boolean {
    return (
      !this.stopped &&
      this.joinedRevision > 0 &&
      this.live.get(this.name) === this.joinedRevision &&
      this.now() < this.validUntil
    );
  }

  // ---- this node's key -------------------------------------------------------------------------

  private async join(): Promise<void> {
    const lease = this.client.lease(this.ttlSeconds);
    this.lease = lease;
    lease.on('lost', (error) => {
      if (this.stopped || lease !== this.lease) return;
      this.logger.warn({ err: error }, 'lost this node’s membership lease; joining again');
      this.rejoin();
    });
    lease.on('keepaliveSucceeded', () => {
      if (lease === this.lease) this.renewed(this.now());
    });
    const askedAt = this.now();
    const id = await lease.grant();
    // Put and read back in one transaction: the key's create revision is the fencing token.
    const key = this.keys.member(this.name);
    const response = await this.client.kv.txn({
      success: [
        { request_put: { key, value: Buffer.from(JSON.stringify(this.record)), lease: id } },
        { request_range: { key } },
      ],
    });
    if (lease !== this.lease) return;
    this.joinedRevision = Number(response.responses.at(1)?.response_range.kvs.at(0)?.create_revision ?? 0);
    this.live.set(this.name, this.joinedRevision);
    this.renewed(askedAt);
  }

  /** The lease is alive until `at` + TTL; past that this node stops counting itself a member. */
  private renewed(at: number): void {
    const lapsed = this.now() >= this.validUntil;
    this.validUntil = at + this.ttlSeconds * 1000;
    if (this.expiry !== null) clearTimeout(this.expiry);
    this.expiry = setTimeout(() => this.changes.emit('change'), Math.max(this.validUntil - this.now(), 0) + 1);
    this.expiry.unref();
    // A renewal changes nothing the others can see unless the lease had lapsed here.
    if (lapsed) this.changes.emit('change');
  }

  private rejoin(): void {
    if (this.stopped) return;
    const old = this.lease;
    this.lease = null;
    this.joinedRevision = 0;
    this.changes.emit('change');
    old?.release();
    this.join().catch((error: unknown) => {
      if (this.stopped) return;
      this.logger.warn({ err: error }, 'could not join the cluster again; retrying');
      this.retry = setTimeout(() => this.rejoin(), 1000);
      this.retry.unref();
    });
  }

  /** This node's key went (its lease expired while etcd could not hear it): join again under a new one. */
  private checkSelf(): void {
    if (this.stopped || this.joinedRevision === 0) return;
    if (this.live.get(this.name) === this.joinedRevision) return;
    this.logger.warn({ member: this.name }, 'this node’s membership key is gone; joining again');
    this.rejoin();
  }
}

export function decodeMember(value: Buffer): MemberRecord | null {
  try {
    const record = JSON.parse(value.toString('utf8')) as MemberRecord;
    return typeof record.name === 'string' && typeof record.http === 'string' ? record : null;
  } catch {
    return null;
  }
}

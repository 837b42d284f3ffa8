import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from 'pino';
import type { ClusterMember as MemberRecord } from '../catalog/store.js';
import type { EtcdKeys } from './etcd-codec.js';

/**
 * This node's key on an etcd lease: live members are the keys that exist. The lease is kept
 * alive by etcd3; when it is lost (etcd unreachable past the TTL) a new one is granted and the
 * key written again once etcd answers. Instances are never attached to leases (a stalled leader
 * can revoke many at once, etcd issue 15247): only this key is.
 */
export class Membership {
  private lease: Lease | null = null;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: EtcdKeys,
    private readonly record: MemberRecord,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const lease = this.client.lease(this.ttlSeconds);
    this.lease = lease;
    lease.on('lost', (error) => {
      if (this.stopped || lease !== this.lease) return;
      this.logger.warn({ err: error }, 'lost this node’s membership lease; joining again');
      this.rejoin();
    });
    await lease.put(this.keys.member(this.record.name)).value(JSON.stringify(this.record)).exec();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry !== null) clearTimeout(this.retry);
    const lease = this.lease;
    this.lease = null;
    // Revoking removes the key at once, so the others stop counting this node without waiting for the TTL.
    await lease?.revoke().catch(() => lease.release());
  }

  private rejoin(): void {
    this.start().catch((error: unknown) => {
      if (this.stopped) return;
      this.logger.warn({ err: error }, 'could not join the cluster again; retrying');
      this.retry = setTimeout(() => this.rejoin(), 1000);
      this.retry.unref();
    });
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

import type { WriteFence } from '../catalog/store.js';

/**
 * What the health manager needs from a cluster (src/cluster implements it over etcd): who the
 * live members are, this node's fencing token, and a shared record of TTL heartbeats. Without
 * one (SQLite mode) the node runs every check itself.
 */
export interface CheckCluster {
  /** This node's member name. */
  readonly self: string;
  /** Live member names, or null while this node is not a live member itself (it then owns no check). */
  members(): readonly string[] | null;
  /** Called whenever members() may have changed. Returns the unsubscribe. */
  onMembersChange(listener: () => void): () => void;
  /** This node's membership as a fencing token for its check writes; null while it is not a member. */
  fence(): WriteFence | null;
  /** A heartbeat this node took at `at` (epoch ms); replicated at most every `ttlMs` / 3 per check. */
  recordHeartbeat(checkId: string, at: number, ttlMs: number): void;
  /** The newest heartbeat time any node replicated for the check, or null when none did. */
  lastHeartbeat(checkId: string): Promise<number | null>;
  /** The check is gone; `owner`: this node owned it and removes its shared record. */
  forgetHeartbeat(checkId: string, owner: boolean): void;
}

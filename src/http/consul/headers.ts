import type { FastifyReply } from 'fastify';
import type { StoreContact } from '../../catalog/store.js';

/**
 * The query metadata headers of a Consul read (agent/http.go setMeta). On SQLite Konsul is its
 * own leader, so the leader is always known and the last contact is always now; in cluster mode
 * they say whether this node has heard from etcd lately and how long ago (milliseconds, as Consul).
 */
export function setQueryMeta(reply: FastifyReply, index: number, contact: StoreContact): void {
  // Index 0 would make ?index=0 never block and turn watchers into a busy loop; Consul sends 1.
  void reply
    .header('X-Consul-Index', String(Math.max(index, 1)))
    .header('X-Consul-KnownLeader', contact.knownLeader ? 'true' : 'false')
    .header('X-Consul-LastContact', String(Math.max(contact.lastContactMs, 0)));
}

/** The Allow header of a 405 and of an OPTIONS answer, in Consul's form (`OPTIONS,GET`). */
export function allowHeader(methods: readonly string[]): string {
  return ['OPTIONS', ...methods].join(',');
}

import type { FastifyReply } from 'fastify';

/**
 * The query metadata headers of a Consul read (agent/http.go setMeta). Konsul is its own leader
 * and reads its live view, so the leader is always known and the last contact is always now.
 */
export function setQueryMeta(reply: FastifyReply, index: number): void {
  // Index 0 would make ?index=0 never block and turn watchers into a busy loop; Consul sends 1.
  void reply
    .header('X-Consul-Index', String(Math.max(index, 1)))
    .header('X-Consul-KnownLeader', 'true')
    .header('X-Consul-LastContact', '0');
}

/** The Allow header of a 405 and of an OPTIONS answer, in Consul's form (`OPTIONS,GET`). */
export function allowHeader(methods: readonly string[]): string {
  return ['OPTIONS', ...methods].join(',');
}

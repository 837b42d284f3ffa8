import type { FastifyInstance } from 'fastify';
import type { Catalog } from '../catalog/catalog.js';

/**
 * In cluster mode every answer says how current it is, as Consul's X-Consul-KnownLeader and
 * X-Consul-LastContact do on /v1 (set there by setQueryMeta): reads keep being answered from
 * memory while etcd is unreachable, and these headers are how a client can tell.
 */
export function addReplicaHeaders(app: FastifyInstance, catalog: Catalog): void {
  app.addHook('onSend', async (request, reply, payload) => {
    if (!request.url.startsWith('/v1/')) {
      const contact = catalog.contact();
      void reply
        .header('X-Konsul-Known-Leader', contact.knownLeader ? 'true' : 'false')
        .header('X-Konsul-Last-Contact', String(Math.max(contact.lastContactMs, 0)));
    }
    return payload;
  });
}

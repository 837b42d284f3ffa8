import type { FastifyInstance } from 'fastify';
import type { Catalog } from '../catalog/catalog.js';

/**
 * In cluster mode every answer says how current it is, as Consul's X-Consul-KnownLeader and
 * X-Consul-LastContact do on /v1 (set there by setQueryMeta): reads keep being answered from
 * memory while etcd is unreachable, and these headers are how a client can tell.
 *
 * Set in onSend, so a blocking query that waited minutes reports the contact of its answer, not
 * of its arrival. The hook takes Fastify's done callback rather than being async, like the
 * per-request hooks in src/http/app.ts: an async onSend costs a promise per answer and moves
 * the socket write out of the request's own tick into a microtask, every request of a node.
 */
export function addReplicaHeaders(app: FastifyInstance, catalog: Catalog): void {
  app.addHook('onSend', (request, reply, payload, done) => {
    if (!request.url.startsWith('/v1/')) {
      const contact = catalog.contact();
      void reply
        .header('X-Konsul-Known-Leader', contact.knownLeader ? 'true' : 'false')
        .header('X-Konsul-Last-Contact', String(Math.max(contact.lastContactMs, 0)));
    }
    done(null, payload);
  });
}

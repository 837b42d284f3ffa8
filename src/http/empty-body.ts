import type { FastifyRequest } from 'fastify';

/**
 * A route-level onRequest hook for PUTs whose body is optional and DELETEs, which take none. A client that sends
 * `Content-Type: application/json` and no body (`curl -X PUT -H ...`, or `Content-Length: 0`)
 * means "no body"; without the type Fastify skips parsing instead of refusing an empty JSON
 * document. HTTP/1.1 (RFC 9112 §6.3): a request with neither Content-Length nor
 * Transfer-Encoding has no body.
 */
export async function emptyBodyIsNoBody(request: FastifyRequest): Promise<void> {
  const length = request.headers['content-length'];
  if ((length === undefined || length === '0') && request.headers['transfer-encoding'] === undefined)
    delete request.headers['content-type'];
}

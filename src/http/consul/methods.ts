import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { ConsulHttpError } from './errors.js';
import { allowHeader } from './headers.js';

const METHODS: readonly HTTPMethods[] = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'];

/**
 * Answers every other method on `url` the way Consul's HTTP wrapper does: OPTIONS is 200 with
 * an Allow header, anything else 405 "method X not allowed" with the same header (RFC 9110
 * §15.5.6). Without this Fastify would answer 404, and a client probing for the endpoint would
 * conclude it does not exist. The answer is given in onRequest, before any body is parsed.
 * `tolerated` methods have a route of their own but are not advertised in Allow (legacyGet).
 */
export function answerOtherMethods(
  app: FastifyInstance,
  url: string,
  allowed: readonly HTTPMethods[],
  tolerated: readonly HTTPMethods[] = [],
): void {
  const allow = allowHeader(allowed);
  app.route({
    method: METHODS.filter((method) => !allowed.includes(method) && !tolerated.includes(method)),
    url,
    onRequest: async (request, reply) => {
      void reply.header('Allow', allow);
      if (request.method === 'OPTIONS') return reply.status(200).send();
      throw ConsulHttpError.methodNotAllowed(request.method);
    },
    handler: async (request) => {
      // onRequest has always answered; kept so a later change cannot turn this into a 200.
      throw ConsulHttpError.methodNotAllowed(request.method);
    },
  });
}

/**
 * Consul before 1.0 accepted GET on its write endpoints, and python-consul 0.7 (Debian's
 * python3-consul) still deregisters services and passes TTL checks with GET. Konsul accepts that
 * GET on those endpoints only (still advertising PUT alone), except from a browser: a GET needs
 * no CORS preflight, so a web page could otherwise make a visitor's browser deregister a
 * service. Browsers mark every request with Origin or Sec-Fetch-* headers (Fetch Metadata);
 * programs such as python-requests send neither.
 */
export const LEGACY_GET: readonly HTTPMethods[] = ['GET'];

export async function refuseBrowserGet(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.method !== 'GET') return;
  const headers = request.headers;
  if (
    headers.origin !== undefined ||
    headers['sec-fetch-mode'] !== undefined ||
    headers['sec-fetch-site'] !== undefined
  ) {
    void reply.header('Allow', allowHeader(['PUT']));
    throw ConsulHttpError.methodNotAllowed(request.method);
  }
}

import type { FastifyInstance, HTTPMethods } from 'fastify';
import { ConsulHttpError } from './errors.js';
import { allowHeader } from './headers.js';

const METHODS: readonly HTTPMethods[] = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'];

/**
 * Answers every other method on `url` the way Consul's HTTP wrapper does: OPTIONS is 200 with
 * an Allow header, anything else 405 "method X not allowed" with the same header (RFC 9110
 * §15.5.6). Without this Fastify would answer 404, and a client probing for the endpoint would
 * conclude it does not exist. The answer is given in onRequest, before any body is parsed.
 */
export function answerOtherMethods(app: FastifyInstance, url: string, allowed: readonly HTTPMethods[]): void {
  const allow = allowHeader(allowed);
  app.route({
    method: METHODS.filter((method) => !allowed.includes(method)),
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

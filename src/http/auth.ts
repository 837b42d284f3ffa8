import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { Errors } from '../errors.js';

/** Methods that change the catalog: the token and the write rate limit apply to these. */
export const WRITE_METHODS: ReadonlySet<string> = new Set(['PUT', 'POST', 'DELETE', 'PATCH']);

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Marks a route that writes whatever its method, so the token and the write rate limit
     * apply to it: the /v1 endpoints that tolerate python-consul 0.7's GET (consul/methods.ts).
     */
    write?: boolean;
  }
}

/** Whether a request changes the catalog, by its method or by its route's `config.write`. */
export function isWrite(request: FastifyRequest): boolean {
  return WRITE_METHODS.has(request.method) || request.routeOptions.config.write === true;
}
/** Orchestrators probe these without credentials. */
const ALWAYS_OPEN = new Set(['/health/live', '/health/ready']);

export interface AuthOptions {
  token: string;
  protectReads: boolean;
}

/** An onRequest hook enforcing the bearer token, or null when no token is configured. */
export function createAuthHook(options: AuthOptions): ((request: FastifyRequest) => Promise<void>) | null {
  if (options.token === '') return null;
  // Digests have equal length whatever was sent, which timingSafeEqual requires.
  const expected = digest(options.token);
  return async (request) => {
    if (!isWrite(request) && !options.protectReads) return;
    if (ALWAYS_OPEN.has(request.url.split('?', 1)[0]) || request.routeOptions.config.public === true) return;
    const presented = tokenOf(request);
    if (presented === undefined) throw Errors.unauthorized();
    if (!timingSafeEqual(digest(presented), expected)) throw Errors.forbidden();
  };
}

function tokenOf(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  if (typeof authorization === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(authorization);
    if (match !== null) return match[1].trim();
  }
  for (const name of ['x-konsul-token', 'x-consul-token']) {
    const header = request.headers[name];
    if (typeof header === 'string' && header !== '') return header;
  }
  // Consul clients may send the token as ?token= (the query string is parsed before onRequest).
  const queryToken = (request.query as Record<string, unknown> | undefined)?.token;
  return typeof queryToken === 'string' && queryToken !== '' ? queryToken : undefined;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

import type { FastifyInstance } from 'fastify';

/** A registration's shape, small: what the parser's checks run over is the text, not its size. */
const MADE_UP_BODY = '{"name":"warm-up","address":"127.0.0.1","port":8080,"tags":["a"],"meta":{"k":"v"}}';

/**
 * Parses a made-up JSON body with the app's JSON body parser a few times before the server
 * listens. The parser (secure-json-parse, as Fastify configures it) tests every body with two
 * regular expressions against prototype poisoning; V8 compiles a regular expression at its first
 * use and again to machine code at a later one, and left to the first registrations that cost
 * them 0.3-0.6 ms each (measured in a fresh process), on the event loop DNS shares. The result
 * is discarded: nothing reaches a route or the catalog.
 */
export function warmUpJsonParser(app: FastifyInstance): void {
  // Fastify's defaults for both, which the app keeps.
  const parse = app.getDefaultJsonParser('error', 'error');
  const discard = (): void => {};
  for (let i = 0; i < 3; i++) void parse(undefined as never, MADE_UP_BODY, discard);
}

import type { Config } from '../config/load.js';
import { parseDuration } from '../duration.js';

/**
 * The deadlines of an HTTP connection, in whole milliseconds (Node takes integers). Each stage
 * has one, so no client can hold a connection, and its descriptor, by sending slowly or not at all:
 *
 * - headersMs: from the connection's first byte (or, for a silent connection, its opening) until
 *   the request's headers are complete. Trickled header bytes do not extend it (slowloris).
 * - requestMs: from a request's first byte until its body is complete; a trickled body does not
 *   extend it either. It ends when the request has arrived, so a blocking query is not cut.
 * - keepAliveMs: idle time between requests on a kept-alive connection.
 * - idleMs: inactivity while a request is answered (a client that stops reading). A blocking
 *   query's wait is exempt (blocking.ts), since nothing is sent until the index moves.
 *
 * Node checks the first two on a timer, checkEveryMs: a tenth of the shorter one, within 100 ms..1 s.
 */
export interface ConnectionTimeouts {
  headersMs: number;
  requestMs: number;
  keepAliveMs: number;
  idleMs: number;
  checkEveryMs: number;
}

export function connectionTimeouts(http: Config['http']): ConnectionTimeouts {
  const ms = (duration: string) => Math.max(1, Math.ceil(parseDuration(duration)!));
  const headersMs = ms(http.headersTimeout);
  const requestMs = ms(http.requestTimeout);
  return {
    headersMs,
    requestMs,
    keepAliveMs: ms(http.keepAliveTimeout),
    idleMs: ms(http.idleTimeout),
    checkEveryMs: Math.min(1000, Math.max(100, Math.floor(Math.min(headersMs, requestMs) / 10))),
  };
}

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';

export interface ConnectionGuardOptions {
  /** Connections held at once; Node closes any past it as soon as it is accepted. */
  maxConnections: number;
  registry: Registry;
  logger: Logger;
  /** Clock of the warn-line throttle, injectable for tests. */
  now?: () => number;
}

export interface ConnectionGuard {
  /** Connections open now. */
  readonly open: number;
  readonly maxConnections: number;
}

/** Idle connections closed per arrival past the limit: nginx's ngx_drain_connections closes 32. */
const SHED_BATCH = 32;
const WARN_EVERY_MS = 10_000;

/** What the guard knows of one connection: requests it is answering now. */
interface Tracked {
  inFlight: number;
}

/**
 * Bounds the HTTP server's connections and keeps room for new ones. At the limit Node closes a
 * new connection at once, so idle connections alone (a flood of silent sockets, keep-alive
 * clients between requests) could keep every client out, the orchestrator's liveness probe
 * included, until their timeouts fire. As nginx does when it runs out of connections, a
 * connection that arrives past the limit makes the oldest connections with no request in flight
 * close (up to 32), so only requests being answered can fill the server; those are bounded by
 * the request and idle timeouts. With none to close, the newcomer is closed and counted.
 * A connection whose client closes it while idle is closed at once, without a half-close.
 */
export function guardConnections(server: Server, options: ConnectionGuardOptions): ConnectionGuard {
  const { maxConnections, logger } = options;
  const now = options.now ?? Date.now;
  // Insertion order is age order; a connection that turns idle again moves to the young end.
  const idle = new Map<Socket, Tracked>();
  const busy = new Map<Socket, Tracked>();
  let shedSinceWarn = 0;
  let refusedSinceWarn = 0;
  let lastWarnAt = Number.NEGATIVE_INFINITY;

  const shed = new Counter({
    name: 'konsul_http_connections_shed_total',
    help: 'Idle HTTP connections closed to make room at http.maxConnections',
    registers: [options.registry],
  });
  const refused = new Counter({
    name: 'konsul_http_connections_refused_total',
    help: 'HTTP connections closed on arrival because http.maxConnections were answering requests',
    registers: [options.registry],
  });
  new Gauge({
    name: 'konsul_http_connections',
    help: 'HTTP connections open now',
    registers: [options.registry],
    collect() {
      this.set(idle.size + busy.size);
    },
  });
  new Gauge({
    name: 'konsul_http_connections_max',
    help: 'HTTP connections held at once (http.maxConnections, lowered to fit the open-file limit)',
    registers: [options.registry],
  }).set(maxConnections);

  const warn = () => {
    if (now() - lastWarnAt < WARN_EVERY_MS) return;
    lastWarnAt = now();
    logger.warn(
      { maxConnections, shed: shedSinceWarn, refused: refusedSinceWarn },
      'HTTP connections at http.maxConnections: idle ones closed, new ones refused while all are busy',
    );
    shedSinceWarn = 0;
    refusedSinceWarn = 0;
  };

  const refuse = () => {
    refused.inc();
    refusedSinceWarn++;
    warn();
  };
  // One connection over the limit is let in, so that the guard sees the arrival and can make
  // room; past that (a burst while shed sockets are still closing) Node closes it and says 'drop'.
  server.maxConnections = maxConnections + 1;
  server.on('drop', refuse);
  // A client that closes a connection with no request in flight has nothing left to receive, yet
  // Node's http answers its FIN with socket.end(): a ShutdownWrap, then a shutdown() and the close
  // in the next loop turn. Closing it at once skips the first two: a fifth to a third less CPU per
  // connection when thousands close together and libuv reads every FIN in one poll phase
  // (bench/hostile-connections.ts). Node's own 'end' listener, which runs after this one, then
  // finds the socket destroyed and sends nothing: like nginx, no 400 to a client that left before
  // its request's headers were complete. Bytes still queued in Node are left to its graceful end.
  function onPeerEnd(this: Socket): void {
    if (idle.has(this) && this.writableLength === 0) this.destroy();
  }
  // Shared listeners, not closures per connection: a flood opens and closes tens of thousands.
  // on, not once: a socket closes once, and once() would wrap the listener per connection.
  function onSocketClose(this: Socket): void {
    idle.delete(this);
    busy.delete(this);
  }
  server.on('connection', (socket: Socket) => {
    idle.set(socket, { inFlight: 0 });
    // Before http's own 'end' listener, which would start the half-close.
    socket.prependListener('end', onPeerEnd);
    socket.on('close', onSocketClose);
    if (idle.size + busy.size <= maxConnections) return;
    let closed = 0;
    for (const candidate of idle.keys()) {
      if (closed === SHED_BATCH) break;
      if (candidate === socket) continue;
      // Out of the map now: 'close' comes later, and the next arrival must not count it again.
      idle.delete(candidate);
      candidate.destroy();
      closed++;
    }
    if (closed === 0) {
      // Every other connection is answering a request: this one does not fit.
      idle.delete(socket);
      socket.destroy();
      refuse();
      return;
    }
    shed.inc(closed);
    shedSinceWarn += closed;
    warn();
  });
  // One listener for every response, not a closure per request.
  function onResponseClose(this: ServerResponse): void {
    const socket = this.req.socket;
    const tracked = busy.get(socket);
    if (tracked === undefined || --tracked.inFlight > 0) return;
    busy.delete(socket);
    if (!socket.destroyed) idle.set(socket, tracked);
  }
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    const tracked = idle.get(socket) ?? busy.get(socket);
    if (tracked === undefined) return;
    if (tracked.inFlight++ === 0) {
      idle.delete(socket);
      busy.set(socket, tracked);
    }
    // on, not once: a response closes once and is then garbage, and once() would wrap the
    // listener in a new closure per request.
    response.on('close', onResponseClose);
  });

  return {
    get open() {
      return idle.size + busy.size;
    },
    maxConnections,
  };
}

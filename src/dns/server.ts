/**
 * Konsul's DNS face: UDP and TCP on one port, answering for `<domain>` from the catalog in the
 * strategy manager's order.
 *
 * Built on node:dgram and node:net rather than dns2's servers. dns2 3.0.0's servers parse every
 * message with its unbounded Packet.parse (a remote CPU DoS), do not echo the query's OPT, cut an
 * oversized UDP answer down to no records at all, leave a rejected async handler's promise
 * unhandled (which ends a Node 20 process) and only free a `maxConcurrent` slot when the handler
 * replies (so dropped queries leak slots). Here every message goes through a bounded guard, is
 * answered synchronously from pre-encoded records and never leaves anything pending.
 */
import { createSocket, type RemoteInfo, type Socket, type SocketOptions } from 'node:dgram';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Catalog } from '../catalog/catalog.js';
import type { Config } from '../config/schema.js';
import { parseDuration } from '../duration.js';
import type { StrategyManager } from '../lb/manager.js';
import { addressOctets } from './address.js';
import { AnswerCache } from './answer-cache.js';
import { udpLimit } from './edns.js';
import { guardQuery, isRejection, type Query } from './guard.js';
import { DnsMetrics } from './metrics.js';
import { NameRouter } from './names.js';
import { previewQuery, readPreviewAnswer, type PreviewAnswer, type PreviewType } from './preview.js';
import { Responder } from './responder.js';
import { SourceFilter } from './allow-from.js';
import { TcpFront, type TcpCloseReason } from './tcp.js';
import { Zone } from './zone.js';
import { literalLookup, SendCheck } from './udp-send.js';
import { headerOnly } from './truncate.js';
import { FLAG_QR, FLAG_RD, OPCODE_MASK, RCODE, TCP_MESSAGE_LIMIT } from './wire.js';

export interface DnsServerOptions {
  config: Config['dns'];
  catalog: Catalog;
  lb: StrategyManager;
  registry: Registry;
  logger: Logger;
  /**
   * Whether HTTP reads need the token (auth.protectReads with a token set). DNS has no token, so
   * with reads protected and dns.allowFrom empty, start-up warns that DNS answers anyone.
   */
  readsProtected?: boolean;
}

export interface DnsServer {
  /** The bound port (the config's port may be 0). */
  readonly port: number;
  readonly host: string;
  /** The TCP side's open connections and reply bytes queued in Konsul, for metrics and benchmarks. */
  readonly tcp: {
    readonly connectionCount: number;
    readonly queuedOutputBytes: number;
    /** Query bytes read and not yet answered. */
    readonly heldInputBytes: number;
  };
  /**
   * What a query for `name` from `source` would get, answered by the same guard and responder
   * as the network's queries (and taking a rotating strategy's turn like them), laid out as over
   * TCP (never truncated). Not counted in the DNS metrics: it is the UI asking, not a client.
   */
  preview(name: string, type: PreviewType, source: string): PreviewAnswer;
  close(): Promise<void>;
}

/** With port 0 the OS picks a TCP port that UDP may not get; try again with another this many times. */
const BIND_ATTEMPTS = 8;
/** At most one log line per this interval for repeated failures, so a bad query flood cannot flood the log. */
const LOG_INTERVAL_MS = 10_000;
const UDP_RECEIVE_BUFFER = 4 * 1024 * 1024;

/** UDP and TCP on the same port; resolves once both listen. Throws when config.lb is unknown or disabled. */
export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const { config, catalog, lb, registry, logger } = options;
  // Fail at startup, not on the first query, when dns.lb names a strategy the manager will refuse.
  lb.resolve(config.lb);

  const metrics = new DnsMetrics(registry);
  const responder = new Responder({
    config,
    lb,
    router: new NameRouter(config.domain),
    answers: new AnswerCache(catalog, { domain: config.domain, ttl: config.ttl }),
    zone: new Zone(catalog, config.domain, config.ttl, ownAddress(config.host)),
  });
  const failures = new ThrottledLog(logger);
  const sources = new SourceFilter(config.allowFrom);
  if (options.readsProtected === true && !sources.restricts) {
    logger.warn(
      { dns: `${config.host}:${config.port}` },
      'auth.protectReads is on but dns.allowFrom is empty: DNS answers catalog data to any client that can reach it; set dns.allowFrom (see docs/dns.md)',
    );
  }

  const answer = (message: Buffer, source: string, overUdp: boolean): Buffer | null => {
    const started = performance.now();
    const verdict = guardQuery(message);
    if (isRejection(verdict)) {
      if (verdict.reason !== null) metrics.malformed(verdict.reason);
      if (verdict.action === 'drop') return null;
      // The ID, opcode and RD are echoed from the header, which the guard has checked is whole.
      const rcode = verdict.action === 'formerr' ? RCODE.FORMERR : RCODE.NOTIMP;
      const flags = FLAG_QR | (message.readUInt16BE(2) & (OPCODE_MASK | FLAG_RD)) | rcode;
      const reply = headerOnly(message.readUInt16BE(0), flags);
      metrics.answered(undefined, rcode, (performance.now() - started) / 1000);
      return reply;
    }
    const limit = overUdp ? udpLimit(verdict.edns, config.udpAnswerLimit) : TCP_MESSAGE_LIMIT;
    let reply: { message: Buffer; rcode: number; truncated: boolean };
    try {
      // BIND's allow-query: a source outside dns.allowFrom gets REFUSED and no data.
      reply = sources.allows(source)
        ? responder.answer(message, verdict, source, limit)
        : responder.failure(message, verdict, RCODE.REFUSED, limit);
    } catch (error) {
      failures.error(error, verdict);
      reply = responder.failure(message, verdict, RCODE.SERVFAIL, limit);
    }
    if (reply.truncated) metrics.truncated();
    metrics.answered(verdict.qtype, reply.rcode, (performance.now() - started) / 1000);
    return reply.message;
  };

  const { udp, tcp, port } = await bindBoth(config, answer, (reason) => metrics.tcpClosed(reason), logger);
  logger.debug({ host: config.host, port, domain: config.domain }, 'DNS server listening (UDP and TCP)');

  let closing: Promise<void> | undefined;
  return {
    port,
    host: config.host,
    tcp,
    preview(name: string, type: PreviewType, source: string): PreviewAnswer {
      const message = previewQuery(name, type);
      const verdict = guardQuery(message);
      if (isRejection(verdict)) throw new Error(`the DNS guard refused a preview query for ${name}`);
      const reply = responder.answer(message, verdict, source, TCP_MESSAGE_LIMIT);
      return readPreviewAnswer(reply.message, name, type, reply.truncated);
    },
    close(): Promise<void> {
      closing ??= Promise.all([new Promise<void>((resolve) => udp.close(() => resolve())), tcp.close()]).then(
        () => undefined,
      );
      return closing;
    },
  };
}

type Answerer = (message: Buffer, source: string, overUdp: boolean) => Buffer | null;

async function bindBoth(
  config: Config['dns'],
  answer: Answerer,
  onTcpClose: (reason: TcpCloseReason) => void,
  logger: Logger,
): Promise<{ udp: Socket; tcp: TcpFront; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const tcp = new TcpFront({
      // Every UDP query is answered before the next is read, so none is ever outstanding there;
      // maxConcurrent bounds what can be held open: TCP connections.
      maxConnections: config.maxConcurrent,
      maxConnectionsPerSource: config.tcp.maxConnectionsPerSource,
      idleTimeoutMs: parseDuration(config.tcp.idleTimeout)!,
      messageTimeoutMs: parseDuration(config.tcp.messageTimeout)!,
      connectionOutputBytes: config.tcp.connectionOutputBytes,
      outputBytes: config.tcp.outputBytes,
      inputBytes: config.tcp.inputBytes,
      answer: (message, source) => answer(message, source, false),
      onClose: onTcpClose,
    });
    // TCP first: with port 0 the kernel then picks a port no TCP socket holds. A port chosen for
    // UDP first was often held for TCP by a client connection's TIME_WAIT after heavy TCP traffic
    // (a connection flood left most of the ephemeral range so for a minute), and every attempt failed.
    const port = await tcp.listen(config.port, config.host);
    try {
      return { udp: await bindUdp(config.host, port, answer, logger), tcp, port };
    } catch (error) {
      await tcp.close();
      const inUse = (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (config.port !== 0 || !inUse || attempt >= BIND_ATTEMPTS) throw error;
    }
  }
}

function bindUdp(host: string, port: number, answer: Answerer, logger: Logger): Promise<Socket> {
  const socket = createSocket({
    type: isIP(host) === 6 ? 'udp6' : 'udp4',
    // dgram's options type this with dns.lookup's overloads; it calls it as (address, family, callback).
    lookup: literalLookup as unknown as NonNullable<SocketOptions['lookup']>,
  });
  const sendFailures = new ThrottledLog(logger);
  const sendCheck = new SendCheck((error) => sendFailures.warn(error, 'DNS answer could not be sent'));
  socket.on('message', (message: Buffer, peer: RemoteInfo) => {
    // Port 0 cannot be answered; such datagrams are spoofed or broken.
    if (peer.port === 0) return;
    const reply = answer(message, peer.address, true);
    if (reply !== null) socket.send(reply, peer.port, peer.address, sendCheck.next());
  });
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      socket.close();
      reject(error);
    };
    socket.once('error', onError);
    socket.bind({ port, address: host, exclusive: true }, () => {
      socket.off('error', onError);
      // A burst of small datagrams fills the default receive buffer (the kernel charges each one
      // far more than its size) and drops queries; ask for more. The kernel caps it at rmem_max.
      try {
        socket.setRecvBufferSize(UDP_RECEIVE_BUFFER);
      } catch {
        // Keep the default: a smaller buffer only means drops under bursts.
      }
      // After binding, errors (ICMP unreachable on some platforms) must not end the process.
      socket.on('error', (error) => sendFailures.warn(error, 'DNS UDP socket error'));
      resolve(socket);
    });
  });
}

/** The server's own address for NS glue: the configured host when it is a concrete IP. */
function ownAddress(host: string): Buffer | undefined {
  const octets = addressOctets(host);
  return octets === undefined || octets.every((octet) => octet === 0) ? undefined : octets;
}

class ThrottledLog {
  private lastAt = 0;
  private suppressed = 0;

  constructor(private readonly logger: Logger) {}

  error(error: unknown, query: Query): void {
    if (!this.due()) return;
    this.logger.error(
      { err: error, qtype: query.qtype, suppressed: this.take() },
      'DNS query failed; answered SERVFAIL',
    );
  }

  warn(error: unknown, message: string): void {
    if (!this.due()) return;
    this.logger.warn({ err: error, suppressed: this.take() }, message);
  }

  private due(): boolean {
    const now = Date.now();
    if (now - this.lastAt < LOG_INTERVAL_MS) {
      this.suppressed++;
      return false;
    }
    this.lastAt = now;
    return true;
  }

  private take(): number {
    const count = this.suppressed;
    this.suppressed = 0;
    return count;
  }
}

/**
 * Hardening, DNS: 100,000 random and mutated datagrams at a real Konsul DNS server, then a check
 * that it still answers correctly, that every reply it sent was a well-formed response, that its
 * memory did not grow, and that it counted what it refused. Then malformed TCP framing.
 *
 * The server runs in this process (so its heap can be measured), which means the fuzzer and the
 * server share one event loop: packets go out in batches of BATCH, each followed by a valid
 * "marker" query from a second socket whose reply proves the batch was read (loopback delivers
 * in order into the server's one socket). That paces the sender to the server instead of
 * overrunning the socket buffer, so nearly every packet is really parsed.
 */
import t from 'tap';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Counter } from 'prom-client';
import { buildQuery, decodeMessage, RCODE, tcpExchange, TYPE, UdpExchange } from '../helpers/dns-client.js';
import { startTestKonsul, type TestKonsul } from '../helpers/konsul.js';
import { seeded, type Seeded } from '../helpers/seeded.js';

const SEED = 0x6b6f6e73; // "kons"
const PACKETS = 100_000;
const BATCH = 250;
/** Generous: the run should take a few seconds; this only stops a pathological one. */
const WALL_LIMIT_MS = 60_000;

/** A real GC when the flag can be set at run time (it can on Node 20), else a no-op. */
function garbageCollector(): () => void {
  const exposed = globalThis.gc;
  if (typeof exposed === 'function') return () => void exposed();
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  return typeof gc === 'function' ? gc : () => undefined;
}

async function sumOf(
  server: TestKonsul,
  name: string,
  only?: (labels: Partial<Record<string, string | number>>) => boolean,
): Promise<number> {
  const metric = server.metrics.registry.getSingleMetric(name) as Counter | undefined;
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values
    .filter((value) => only === undefined || only(value.labels))
    .reduce((sum, value) => sum + value.value, 0);
}

/** Messages the server looked at: answered ones plus those dropped as too short or as responses. */
async function processed(server: TestKonsul): Promise<number> {
  return (
    (await sumOf(server, 'konsul_dns_queries_total')) +
    (await sumOf(
      server,
      'konsul_dns_malformed_total',
      (labels) => labels.reason === 'short' || labels.reason === 'response',
    ))
  );
}

const NAMES = [
  'web.service.konsul',
  '_web._tcp.service.konsul',
  'primary.web.service.konsul',
  'konsul',
  'nope.service.konsul',
  'web.node.konsul',
  'example.com',
];
const QTYPES = [TYPE.A, TYPE.AAAA, TYPE.SRV, TYPE.ANY, TYPE.TXT, TYPE.SOA, TYPE.NS, TYPE.AXFR];

function baseQuery(rng: Seeded): Buffer {
  const name = rng.pick(NAMES);
  const type = rng.pick(QTYPES);
  switch (rng.int(4)) {
    case 0:
      return buildQuery(name, type, { id: rng.int(65536) });
    case 1:
      return buildQuery(name, type, { id: rng.int(65536), udpSize: rng.pick([0, 1, 511, 512, 1232, 4096, 65535]) });
    case 2:
      return buildQuery(name, type, {
        id: rng.int(65536),
        clientSubnet: rng.chance(0.5)
          ? { address: '10.1.2.3', prefix: rng.int(40) }
          : { address: '2001:db8::1', prefix: rng.int(140) },
      });
    default:
      return buildQuery(name, type, {
        id: rng.int(65536),
        ednsVersion: rng.int(3),
        dnssecOk: rng.chance(0.5),
        udpSize: 1232,
      });
  }
}

function header(rng: Seeded, counts: [number, number, number, number], flags = 0x0100): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(rng.int(65536), 0);
  out.writeUInt16BE(flags, 2);
  counts.forEach((count, i) => out.writeUInt16BE(count, 4 + i * 2));
  return out;
}

const TAIL = Buffer.from([0, 1, 0, 1]);

/** One hostile datagram; the kind is chosen by the seeded source. */
function hostile(rng: Seeded): Buffer {
  switch (rng.int(12)) {
    case 0: // random bytes of any length up to a large datagram
      return rng.bytes(rng.int(rng.chance(0.1) ? 4000 : 600));
    case 1: // a truncated header
      return rng.bytes(rng.int(12));
    case 2: {
      // a valid query cut short anywhere
      const query = baseQuery(rng);
      return query.subarray(0, rng.int(query.length));
    }
    case 3: {
      // compression pointers: to itself, to each other, forward past the end, into the header
      const loops = [
        [0xc0, 0x0c],
        [0xc0, 0x0e, 0xc0, 0x0c],
        [3, 0x77, 0x65, 0x62, 0xc0, 0x0c],
        [0xc0, 0xff],
        [0xc0, 0x00],
        [0xff, 0xff],
        [0x40, 0x01, 0x00],
        [0x80, 0x01, 0x00],
      ];
      return Buffer.concat([header(rng, [1, 0, 0, 0]), Buffer.from(rng.pick(loops)), TAIL]);
    }
    case 4: {
      // a label length that runs past the end of the message
      const length = rng.between(1, 63);
      return Buffer.concat([header(rng, [1, 0, 0, 0]), Buffer.from([length]), rng.bytes(rng.int(length))]);
    }
    case 5: {
      // huge section counts on a short message
      const query = Buffer.from(baseQuery(rng));
      for (const offset of [4, 6, 8, 10])
        if (rng.chance(0.5)) query.writeUInt16BE(rng.chance(0.5) ? 0xffff : rng.int(65536), offset);
      return query;
    }
    case 6: {
      // random opcode, flags, qtype and qclass on an otherwise valid query
      const query = Buffer.from(baseQuery(rng));
      query.writeUInt16BE(rng.int(65536), 2);
      const question = 12 + query.subarray(12).indexOf(0) + 1;
      if (question + 4 <= query.length) {
        query.writeUInt16BE(rng.int(65536), question);
        query.writeUInt16BE(rng.chance(0.5) ? rng.pick([1, 3, 4, 254, 255]) : rng.int(65536), question + 2);
      }
      return query;
    }
    case 7: {
      // a few random bytes replaced
      const query = Buffer.from(baseQuery(rng));
      for (let n = rng.between(1, 4); n > 0; n--) query[rng.int(query.length)] = rng.int(256);
      return query;
    }
    case 8: {
      // a few bits flipped
      const query = Buffer.from(baseQuery(rng));
      for (let n = rng.between(1, 3); n > 0; n--) query[rng.int(query.length)] ^= 1 << rng.int(8);
      return query;
    }
    case 9: // trailing junk or a second, random additional record
      return Buffer.concat([baseQuery(rng), rng.bytes(rng.between(1, 64))]);
    case 10: {
      // a name of 255+ octets made of maximal labels
      const labels = Array.from({ length: rng.between(4, 6) }, () =>
        Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)]),
      );
      return Buffer.concat([header(rng, [1, 0, 0, 0]), ...labels, Buffer.from([0]), TAIL]);
    }
    default: // valid queries stay in the mix so the answer paths run under the same load
      return baseQuery(rng);
  }
}

t.test(
  `100,000 random and mutated UDP packets (seed ${SEED}) leave the DNS server answering correctly, with stable memory`,
  async (t) => {
    const server = await startTestKonsul(t, { dns: { enabled: true } });
    await server.catalog.register({
      name: 'web',
      address: '10.0.0.1',
      port: 8080,
      tags: ['primary'],
      checks: [{ type: 'ttl', ttl: '1h', status: 'passing' }],
    });
    const port = server.dns!.port;
    const gc = garbageCollector();
    const rng = seeded(SEED);

    const fuzzer = createSocket('udp4');
    const marker = createSocket('udp4');
    t.teardown(() => new Promise<void>((resolve) => fuzzer.close(() => resolve())));
    t.teardown(() => new Promise<void>((resolve) => marker.close(() => resolve())));
    let replies = 0;
    const badReplies: string[] = [];
    fuzzer.on('message', (message) => {
      replies++;
      try {
        const decoded = decodeMessage(message);
        if (!decoded.qr) throw new Error('QR is clear');
      } catch (error) {
        if (badReplies.length < 5)
          badReplies.push(`${(error as Error).message}: ${message.toString('hex').slice(0, 80)}`);
      }
    });
    let markerWaiter: ((id: number) => void) | undefined;
    marker.on('message', (message) => markerWaiter?.(message.readUInt16BE(0)));
    await new Promise<void>((resolve) => fuzzer.bind(0, '127.0.0.1', resolve));
    fuzzer.setSendBufferSize(4 * 1024 * 1024);
    await new Promise<void>((resolve) => marker.bind(0, '127.0.0.1', resolve));

    let markersLost = 0;
    const syncWithServer = async (id: number) => {
      const answered = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 1000);
        markerWaiter = (got) => {
          if (got !== id) return;
          clearTimeout(timer);
          resolve(true);
        };
      });
      marker.send(buildQuery('web.service.konsul', TYPE.A, { id }), port, '127.0.0.1');
      if (!(await answered)) markersLost++;
    };
    const sendBatch = (count: number) => {
      for (let i = 0; i < count; i++) fuzzer.send(hostile(rng), port, '127.0.0.1');
    };

    // Warm up (JIT, metric children, caches) before taking the baseline.
    for (let i = 0; i < 20; i++) {
      sendBatch(BATCH);
      await syncWithServer(i);
    }
    gc();
    const before = {
      ...process.memoryUsage(),
      processed: await processed(server),
      malformed: await sumOf(server, 'konsul_dns_malformed_total'),
    };

    const started = performance.now();
    let sent = 0;
    for (let batch = 0; sent < PACKETS; batch++) {
      if (performance.now() - started > WALL_LIMIT_MS) break;
      const count = Math.min(BATCH, PACKETS - sent);
      sendBatch(count);
      sent += count;
      await syncWithServer(batch & 0xffff);
    }
    const seconds = (performance.now() - started) / 1000;
    gc();
    const after = {
      ...process.memoryUsage(),
      processed: await processed(server),
      malformed: await sumOf(server, 'konsul_dns_malformed_total'),
    };
    const seen = after.processed - before.processed - (sent / BATCH - markersLost);

    t.equal(
      sent,
      PACKETS,
      `all ${PACKETS} packets were sent within ${WALL_LIMIT_MS / 1000} s (took ${seconds.toFixed(1)} s)`,
    );
    t.ok(seen >= sent * 0.99, `the server parsed ${seen} of ${sent} packets (the rest were lost in the socket buffer)`);
    t.ok(markersLost <= 3, `the server answered the marker after every batch but ${markersLost}`);
    t.same(badReplies, [], `every one of ${replies} replies was a well-formed DNS response`);
    t.ok(
      after.malformed - before.malformed > sent / 4,
      `konsul_dns_malformed_total grew by ${after.malformed - before.malformed}`,
    );
    const heapGrowth = (after.heapUsed - before.heapUsed) / 2 ** 20;
    const rssGrowth = (after.rss - before.rss) / 2 ** 20;
    t.ok(heapGrowth < 50, `heap grew by ${heapGrowth.toFixed(1)} MiB after GC (bound 50 MiB)`);
    t.ok(rssGrowth < 150, `rss grew by ${rssGrowth.toFixed(1)} MiB (bound 150 MiB)`);

    const exchange = new UdpExchange(t, port);
    const a = await exchange.query(buildQuery('web.service.konsul', TYPE.A, { id: 7 }));
    t.match(a, { id: 7, qr: true, rcode: RCODE.NOERROR, question: { name: 'web.service.konsul', type: TYPE.A } });
    t.same(
      a.answers.map((record) => record.address),
      ['10.0.0.1'],
      'a valid A query gets the right address',
    );
    const srv = await exchange.query(buildQuery('_web._tcp.service.konsul', TYPE.SRV, { id: 8, udpSize: 1232 }));
    t.same(
      srv.answers.map((record) => record.port),
      [8080],
      'a valid SRV query gets the right port',
    );
    const missing = await exchange.query(buildQuery('nope.service.konsul', TYPE.A, { id: 9 }));
    t.equal(missing.rcode, RCODE.NXDOMAIN, 'an unknown service is still NXDOMAIN');
    const http = await server.app.inject({ method: 'GET', url: '/health/ready' });
    t.equal(http.statusCode, 200, 'the HTTP face is unaffected');
  },
);

function frame(message: Buffer): Buffer {
  const out = Buffer.alloc(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}

/** Writes raw bytes on a fresh connection and collects whatever comes back until the server closes it or `waitMs` passes. */
function rawTcp(
  port: number,
  bytes: Buffer,
  options: { halfClose: boolean; waitMs: number },
): Promise<{ received: Buffer; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(bytes);
      if (options.halfClose) socket.end();
    });
    const chunks: Buffer[] = [];
    let closedByServer = false;
    const timer = setTimeout(() => {
      socket.destroy();
    }, options.waitMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => (closedByServer = true));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' ? (closedByServer = true) : reject(error),
    );
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks), closedByServer });
    });
  });
}

function framesIn(buffer: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  let offset = 0;
  while (offset + 2 <= buffer.length && offset + 2 + buffer.readUInt16BE(offset) <= buffer.length) {
    frames.push(buffer.subarray(offset + 2, offset + 2 + buffer.readUInt16BE(offset)));
    offset += 2 + buffer.readUInt16BE(offset);
  }
  return frames;
}

t.test(
  'malformed TCP framing is survived: short frames, zero-length frames, garbage and slowloris connections',
  async (t) => {
    const server = await startTestKonsul(t, { dns: { enabled: true } });
    await server.catalog.register({
      name: 'web',
      address: '10.0.0.1',
      port: 8080,
      checks: [{ type: 'ttl', ttl: '1h', status: 'passing' }],
    });
    const port = server.dns!.port;
    const valid = buildQuery('web.service.konsul', TYPE.A, { id: 0x4242 });
    const rng = seeded(SEED + 1);

    // Slowloris: connections that send part of a frame and then nothing. Opened first so the
    // server's idle timeout (10 s) runs while the rest of the test goes on.
    const slow: { socket: Socket; closed: Promise<number> }[] = [];
    const openedAt = performance.now();
    for (let i = 0; i < 40; i++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(performance.now() - openedAt)));
      socket.on('connect', () =>
        socket.write(i % 2 === 0 ? Buffer.from([0x00]) : Buffer.concat([Buffer.from([0xff, 0xff]), rng.bytes(100)])),
      );
      slow.push({ socket, closed });
    }
    t.teardown(() => {
      for (const { socket } of slow) socket.destroy();
    });

    const longer = await rawTcp(port, Buffer.concat([Buffer.from([0x01, 0x00]), valid]), {
      halfClose: true,
      waitMs: 3000,
    });
    t.ok(longer.closedByServer, 'a length prefix larger than the data, then FIN: the server closes the connection');
    t.equal(longer.received.length, 0, 'and sends nothing for the partial frame');

    const zero = await rawTcp(port, Buffer.concat([Buffer.from([0x00, 0x00]), frame(valid)]), {
      halfClose: true,
      waitMs: 3000,
    });
    const zeroFrames = framesIn(zero.received);
    t.equal(zeroFrames.length, 1, 'a zero-length frame is dropped and the valid query after it is answered');
    t.match(decodeMessage(zeroFrames[0]), { id: 0x4242, rcode: RCODE.NOERROR });

    const garbage = Array.from({ length: 50 }, () => frame(rng.bytes(rng.int(300))));
    const mixed = await rawTcp(port, Buffer.concat([...garbage, frame(valid)]), { halfClose: true, waitMs: 3000 });
    const mixedFrames = framesIn(mixed.received).map((message) => decodeMessage(message));
    t.ok(
      mixedFrames.every((message) => message.qr),
      'every reply to 50 garbage frames is a well-formed response',
    );
    t.match(
      mixedFrames.at(-1),
      { id: 0x4242, rcode: RCODE.NOERROR },
      'the valid query after the garbage is answered, in order',
    );

    const huge = await rawTcp(port, Buffer.concat([Buffer.from([0xff, 0xff]), rng.bytes(65535)]), {
      halfClose: true,
      waitMs: 3000,
    });
    const hugeFrames = framesIn(huge.received);
    t.ok(
      hugeFrames.every((message) => decodeMessage(message).qr),
      'a maximal 65,535-byte frame of noise gets at most a well-formed reply',
    );

    // With 40 slowloris connections held, a new connection is answered at once.
    const startedAt = performance.now();
    const [answer] = await tcpExchange(port, [valid]);
    t.ok(
      performance.now() - startedAt < 3000,
      'a valid TCP query is answered promptly while slow connections are held',
    );
    t.same(
      answer.answers.map((record) => record.address),
      ['10.0.0.1'],
    );
    const udp = await new UdpExchange(t, port).query(valid);
    t.same(
      udp.answers.map((record) => record.address),
      ['10.0.0.1'],
      'and so is UDP',
    );

    const closedAfter = await Promise.race([
      Promise.all(slow.map(({ closed }) => closed)),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 13_000)),
    ]);
    t.ok(closedAfter !== null, 'the server closed every slowloris connection by its idle timeout');
    if (closedAfter !== null)
      t.ok(Math.max(...closedAfter) < 13_000, `the last one after ${(Math.max(...closedAfter) / 1000).toFixed(1)} s`);
    const [afterwards] = await tcpExchange(port, [valid]);
    t.same(
      afterwards.answers.map((record) => record.address),
      ['10.0.0.1'],
      'a valid TCP query is answered afterwards',
    );
  },
);

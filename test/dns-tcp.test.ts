import t from 'tap';
import { connect, type Socket } from 'node:net';
import { MAX_QUERY_BYTES, sourceKey, TcpFront } from '../src/dns/tcp.js';
import { ADMITS_PER_TURN, InputBudget, READ_BYTES, type InputWaiter } from '../src/dns/tcp-input.js';
import { OutputBudget } from '../src/dns/tcp-output.js';
import { AnswerTurns, ANSWERS_PER_TURN, ANSWERS_WHILE_ACCEPTING } from '../src/dns/tcp-turns.js';

/** A front that answers each message with itself reversed, so replies are easy to check. */
async function front(
  t: { teardown(fn: () => unknown): void },
  options: Partial<ConstructorParameters<typeof TcpFront>[0]> = {},
) {
  const seen: string[] = [];
  const tcp = new TcpFront({
    maxConnections: 10,
    maxConnectionsPerSource: 10,
    idleTimeoutMs: 2000,
    messageTimeoutMs: 2000,
    connectionOutputBytes: 65536,
    outputBytes: 16 * 1024 * 1024,
    inputBytes: 4 * 1024 * 1024,
    answer: (message, source) => {
      seen.push(source);
      return message.length === 0 ? null : Buffer.from([...message].reverse());
    },
    ...options,
  });
  await tcp.listen(0, '127.0.0.1');
  t.teardown(() => tcp.close());
  const address = tcp.server.address();
  return { tcp, seen, port: typeof address === 'object' && address !== null ? address.port : 0 };
}

const frame = (bytes: number[]) => Buffer.from([bytes.length >> 8, bytes.length & 0xff, ...bytes]);

function exchange(port: number, writes: Buffer[], endAfter = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    const writeAll = async (): Promise<void> => {
      for (const write of writes) {
        socket.write(write);
        await new Promise((next) => setTimeout(next, 2));
      }
      if (endAfter) socket.end();
      else setTimeout(() => socket.end(), 50);
    };
    socket.on('connect', () => void writeAll());
  });
}

t.test('messages split byte by byte are reassembled and answered in order', async (t) => {
  const { port } = await front(t);
  const stream = Buffer.concat([frame([1, 2, 3]), frame([4, 5])]);
  const reply = await exchange(
    port,
    [...stream].map((byte) => Buffer.from([byte])),
  );
  t.same([...reply], [0, 3, 3, 2, 1, 0, 2, 5, 4]);
});

t.test('several messages in one write get one reply each', async (t) => {
  const { port, seen } = await front(t);
  const reply = await exchange(port, [Buffer.concat([frame([1]), frame([2]), frame([3])])]);
  t.same([...reply], [0, 1, 1, 0, 1, 2, 0, 1, 3]);
  t.same(seen, ['127.0.0.1', '127.0.0.1', '127.0.0.1'], 'the answerer learns the peer address');
});

t.test('a client that sends its query and half-closes at once still gets the reply', async (t) => {
  const { port } = await front(t);
  const reply = await exchange(port, [frame([9, 8])], true);
  t.same([...reply], [0, 2, 8, 9]);
});

t.test('a message the answerer drops gets no reply and the connection carries on', async (t) => {
  const { port } = await front(t);
  const reply = await exchange(port, [Buffer.concat([frame([]), frame([7])])]);
  t.same([...reply], [0, 1, 7]);
});

t.test('an idle connection is closed after the timeout', async (t) => {
  const { port } = await front(t, { idleTimeoutMs: 50 });
  const started = performance.now();
  const elapsed = await new Promise<number>((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('close', () => resolve(performance.now() - started));
    socket.on('error', () => undefined);
    socket.resume();
  });
  t.ok(elapsed >= 40 && elapsed < 1500, `closed after ${Math.round(elapsed)} ms`);
});

t.test('close() ends open connections', async (t) => {
  const { port, tcp } = await front(t, { idleTimeoutMs: 60_000 });
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  socket.resume();
  await new Promise((resolve) => socket.on('connect', resolve));
  const closed = new Promise((resolve) => socket.on('close', resolve));
  await tcp.close();
  await closed;
  t.equal(tcp.connectionCount, 0);
});

t.test('connections beyond the cap are refused', async (t) => {
  const { port, tcp } = await front(t, { maxConnections: 1 });
  const first = connect({ port, host: '127.0.0.1' });
  t.teardown(() => first.destroy());
  await new Promise((resolve) => first.on('connect', resolve));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const second = await new Promise<string>((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('close', () => resolve('closed'));
    socket.on('error', () => undefined);
    socket.resume();
  });
  t.equal(second, 'closed');
  t.equal(tcp.connectionCount, 1);
});

t.test('a frame declaring more than any query needs closes the connection before its bytes arrive', async (t) => {
  const { port, seen } = await front(t, { idleTimeoutMs: 10_000 });
  const declared = MAX_QUERY_BYTES + 1;
  // The client sends the length prefix and a few bytes and then waits, never ending: only the
  // server can close this connection before the 10 s idle timeout.
  const closedBy = await new Promise<string>((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' }, () =>
      socket.write(Buffer.from([declared >> 8, declared & 0xff, 1, 2, 3])),
    );
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('still open after 2 s');
    }, 2000);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve('server');
    });
  });
  t.equal(closedBy, 'server');
  t.same(seen, [], 'nothing reached the answerer');
});

/** Opens a connection (from `localAddress` when given) and resolves once it is established. */
function open(t: { teardown(fn: () => unknown): void }, port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', ...(localAddress === undefined ? {} : { localAddress }) });
    t.teardown(() => socket.destroy());
    // Resets from the server are what several tests expect; they must not end the test process.
    socket.on('error', () => undefined);
    socket.once('error', reject);
    socket.once('connect', () => resolve(socket));
  });
}

/** Whether the server closes `socket` (it sends nothing first) before the client gives up after `withinMs`. */
function closedByServer(socket: Socket, withinMs: number): Promise<'server' | 'still open'> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve('server');
    socket.on('error', () => undefined);
    const timer = setTimeout(() => resolve('still open'), withinMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('server');
    });
    socket.resume();
  });
}

/** The first bytes `socket` receives, in hex, or a line saying none came within `withinMs`. */
function firstReply(socket: Socket, withinMs: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(`no reply within ${withinMs / 1000} s`), withinMs);
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      resolve(chunk.toString('hex'));
    });
  });
}

t.test(
  'a message trickled in a byte at a time is cut off at the message deadline, which bytes do not extend',
  async (t) => {
    const reasons: string[] = [];
    // The idle timeout is far longer than the trickle's gaps: only a per-message deadline can end it.
    const { port, seen } = await front(t, {
      idleTimeoutMs: 5000,
      messageTimeoutMs: 300,
      onClose: (reason) => reasons.push(reason),
    });
    const socket = await open(t, port);
    const message = frame(Array.from({ length: 30 }, (_, i) => i + 1));
    let sent = 0;
    const outcome = await new Promise<string>((resolve) => {
      socket.on('data', () => resolve('answered'));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve('closed'));
      // One byte every 60 ms: the whole 32-byte frame would take about 2 s.
      const trickle = setInterval(() => {
        if (socket.destroyed || sent === message.length) return clearInterval(trickle);
        socket.write(message.subarray(sent, sent + 1));
        sent++;
      }, 60);
      t.teardown(() => clearInterval(trickle));
    });
    t.equal(outcome, 'closed', 'the server closed the connection instead of waiting for the rest');
    t.ok(sent < message.length, `closed after ${sent} of ${message.length} bytes`);
    t.same(seen, [], 'nothing reached the answerer');
    await waitFor(() => reasons.length > 0);
    t.same(reasons, ['message_timeout']);
  },
);

t.test('the deadline is per message: a client sending whole queries in time keeps its connection', async (t) => {
  const { port } = await front(t, { idleTimeoutMs: 5000, messageTimeoutMs: 300 });
  const socket = await open(t, port);
  const replies: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => replies.push(chunk));
  // Six queries 100 ms apart: 600 ms in all, twice the message deadline.
  for (let i = 1; i <= 6; i++) {
    socket.write(frame([i, 0]));
    await new Promise((next) => setTimeout(next, 100));
  }
  await waitFor(() => Buffer.concat(replies).length === 24);
  t.notOk(socket.destroyed, 'still open');
  t.same(
    [...Buffer.concat(replies)],
    [1, 2, 3, 4, 5, 6].flatMap((i) => [0, 2, 0, i]),
  );
});

t.test('trickling connections from one source cannot take every slot', async (t) => {
  const reasons: string[] = [];
  const { port, tcp } = await front(t, {
    maxConnections: 8,
    maxConnectionsPerSource: 4,
    idleTimeoutMs: 5000,
    messageTimeoutMs: 5000,
    onClose: (reason) => reasons.push(reason),
  });
  const trickles = await Promise.all([1, 2, 3, 4].map(() => open(t, port)));
  // Each holds its slot with a message that never completes.
  for (const socket of trickles) socket.write(Buffer.from([0, 30, 1]));
  // The client sees its connection up before the server has accepted it.
  await waitFor(() => tcp.connectionCount === 4);
  const fifth = await open(t, port);
  t.equal(await closedByServer(fifth, 2000), 'server', 'a fifth connection from the same address is closed');
  t.same(reasons, ['source_limit']);
  // Another client (127.0.0.2 is loopback too on Linux) still gets in and gets its answer.
  const reply = await new Promise<Buffer>((resolve) => {
    void open(t, port, '127.0.0.2').then((other) => {
      other.once('data', resolve);
      other.write(frame([7, 8]));
    });
  });
  t.same([...reply], [0, 2, 8, 7]);
  // A slot given back is counted back: the same source may connect again.
  trickles[0].destroy();
  await waitFor(() => tcp.connectionCount === 4);
  const again = await open(t, port);
  t.equal(await closedByServer(again, 200), 'still open');
});

t.test('IPv6 sources are counted by /64 and IPv4-mapped ones by their IPv4 address', async (t) => {
  t.equal(sourceKey('2001:db8:1:2::1'), sourceKey('2001:db8:1:2:ffff::9'));
  t.not(sourceKey('2001:db8:1:2::1'), sourceKey('2001:db8:1:3::1'));
  t.equal(sourceKey('::ffff:192.0.2.1'), '192.0.2.1');
  t.equal(sourceKey('192.0.2.1'), '192.0.2.1');
});

/** Sum of the reply bytes Node holds for the front's sockets (what the bounds limit), read from the sockets themselves. */
function serverQueued(sockets: Set<Socket>): number {
  let total = 0;
  for (const socket of sockets) total += socket.writableLength;
  return total;
}

/**
 * Clients that pipeline `queries` queries each and do not read until the server has stopped
 * answering; then they read everything. Returns the most reply bytes Node ever held (checked at
 * every answer) and the replies each client got.
 */
async function pipelineWithoutReading(
  t: { teardown(fn: () => unknown): void },
  options: { clients: number; queries: number; replyBytes: number; connectionOutputBytes: number; outputBytes: number },
) {
  const sockets = new Set<Socket>();
  let answered = 0;
  let mostQueued = 0;
  const reply = Buffer.alloc(options.replyBytes, 1);
  const { tcp, port } = await front(t, {
    maxConnectionsPerSource: options.clients,
    connectionOutputBytes: options.connectionOutputBytes,
    outputBytes: options.outputBytes,
    answer: () => {
      answered++;
      mostQueued = Math.max(mostQueued, serverQueued(sockets));
      return reply;
    },
  });
  tcp.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const clients = await Promise.all(Array.from({ length: options.clients }, () => open(t, port)));
  const queries = Buffer.concat(Array.from({ length: options.queries }, () => frame([1, 2, 3])));
  for (const client of clients) {
    client.pause();
    client.write(queries);
  }
  // Wait until the server stops answering: every connection is then held by a bound.
  for (let last = -1; answered !== last;) {
    last = answered;
    await new Promise((next) => setTimeout(next, 150));
  }
  const stalledAt = answered;
  const received = await Promise.all(
    clients.map(
      (client) =>
        new Promise<number>((resolve) => {
          let bytes = 0;
          const expected = options.queries * (2 + options.replyBytes);
          client.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes >= expected) resolve(bytes);
          });
          client.resume();
        }),
    ),
  );
  return { tcp, mostQueued, stalledAt, received };
}

t.test('a client that pipelines queries and does not read stops being read at its own output bound', async (t) => {
  const replyBytes = 16 * 1024;
  const { mostQueued, stalledAt, received } = await pipelineWithoutReading(t, {
    clients: 1,
    queries: 2000,
    replyBytes,
    connectionOutputBytes: 32 * 1024,
    outputBytes: 16 * 1024 * 1024,
  });
  t.ok(stalledAt < 2000, `the server stopped after ${stalledAt} answers`);
  t.ok(mostQueued <= 32 * 1024 + replyBytes + 2, `at most ${mostQueued} reply bytes held`);
  t.same(received, [2000 * (replyBytes + 2)], 'every answer arrives once the client reads');
});

t.test('the bound on queued replies holds across connections, and each gets its turn', async (t) => {
  const replyBytes = 16 * 1024;
  const { tcp, mostQueued, received } = await pipelineWithoutReading(t, {
    clients: 6,
    queries: 600,
    replyBytes,
    connectionOutputBytes: 128 * 1024,
    outputBytes: 192 * 1024,
  });
  // Six connections under their own bound would hold up to 6 × 128 KiB; the shared bound allows 192 KiB.
  t.ok(mostQueued <= 192 * 1024 + replyBytes + 2, `at most ${mostQueued} reply bytes held`);
  t.same(received, new Array<number>(6).fill(600 * (replyBytes + 2)), 'every connection got all its answers');
  t.equal(tcp.queuedOutputBytes, 0);
});

t.test('closing connections with replies still queued gives their bytes back', async (t) => {
  const replyBytes = 16 * 1024;
  const { tcp, port } = await front(t, {
    maxConnectionsPerSource: 4,
    connectionOutputBytes: 64 * 1024,
    outputBytes: 128 * 1024,
    answer: () => Buffer.alloc(replyBytes, 1),
  });
  const clients = await Promise.all([1, 2, 3].map(() => open(t, port)));
  const queries = Buffer.concat(Array.from({ length: 2000 }, () => frame([1])));
  for (const client of clients) {
    client.pause();
    client.write(queries);
  }
  await waitFor(() => tcp.queuedOutputBytes >= 128 * 1024);
  for (const client of clients) client.destroy();
  await waitFor(() => tcp.connectionCount === 0);
  t.equal(tcp.queuedOutputBytes, 0, 'nothing is charged for closed connections');
  const fresh = await open(t, port);
  const reply = await new Promise<Buffer | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 2000);
    fresh.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      resolve(chunk);
    });
    fresh.write(frame([5]));
  });
  t.equal(reply?.readUInt16BE(0), replyBytes, 'a new client is answered at once');
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let tries = 0; !condition(); tries++) {
    if (tries > 400) throw new Error('condition not met within 4 s');
    await new Promise((next) => setTimeout(next, 10));
  }
}

t.test(
  'when every slot is taken, a newcomer replaces the connection longest without a query, once it has had a message timeout',
  async (t) => {
    const reasons: string[] = [];
    const { port, tcp } = await front(t, {
      maxConnections: 2,
      maxConnectionsPerSource: 10,
      idleTimeoutMs: 5000,
      messageTimeoutMs: 300,
      onClose: (reason) => reasons.push(reason),
    });
    const silent = await open(t, port);
    await waitFor(() => tcp.connectionCount === 1);
    const busy = await open(t, port);
    await waitFor(() => tcp.connectionCount === 2);
    const silentClosed = closedByServer(silent, 3000);
    // The busy connection asks a query now and then; the silent one never does.
    busy.resume();
    busy.write(frame([1]));
    await new Promise((next) => setTimeout(next, 20));
    const early = await open(t, port);
    t.equal(await closedByServer(early, 2000), 'server', 'a newcomer before the message timeout is turned away');
    await new Promise((next) => setTimeout(next, 300));
    busy.write(frame([2]));
    const newcomer = await open(t, port);
    const reply = await new Promise<Buffer>((resolve) => {
      const timer = setTimeout(() => resolve(Buffer.alloc(0)), 2000);
      newcomer.once('data', (chunk: Buffer) => {
        clearTimeout(timer);
        resolve(chunk);
      });
      newcomer.write(frame([3, 4]));
    });
    t.same([...reply], [0, 2, 4, 3], 'the newcomer is answered');
    t.equal(await silentClosed, 'server', 'the silent connection gave way');
    t.notOk(busy.destroyed, 'the connection that kept asking stays');
    await waitFor(() => reasons.length === 2);
    t.same(reasons, ['connection_limit', 'evicted']);
    t.equal(tcp.connectionCount, 2);
  },
);

t.test('however many connections pipeline queries, one turn of the event loop answers a bounded number', async (t) => {
  let answered = 0;
  const { port } = await front(t, {
    maxConnections: 40,
    maxConnectionsPerSource: 40,
    answer: () => {
      answered++;
      return Buffer.from([1]);
    },
  });
  // One tick per turn of the event loop (an immediate set in the check phase runs in the next).
  let mostPerTurn = 0;
  let atTick = 0;
  let ticking = true;
  const tick = (): void => {
    mostPerTurn = Math.max(mostPerTurn, answered - atTick);
    atTick = answered;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  t.teardown(() => void (ticking = false));
  const clients = await Promise.all(Array.from({ length: 30 }, () => open(t, port)));
  const queries = Buffer.concat(Array.from({ length: 400 }, () => frame([1, 2, 3])));
  const done = clients.map(
    (client) =>
      new Promise<void>((resolve) => {
        let bytes = 0;
        client.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes >= 400 * 3) resolve();
        });
      }),
  );
  for (const client of clients) client.write(queries);
  await Promise.all(done);
  t.equal(answered, 30 * 400, 'every query is answered');
  t.ok(
    mostPerTurn <= ANSWERS_PER_TURN,
    `at most ${mostPerTurn} answers in one turn (bound ${ANSWERS_PER_TURN}; 30 connections × 8 = 240 before)`,
  );
});

t.test('a new client is answered while connections that never read hold the whole output budget', async (t) => {
  const reasons: string[] = [];
  const { tcp, port } = await front(t, {
    maxConnectionsPerSource: 8,
    idleTimeoutMs: 60_000,
    messageTimeoutMs: 300,
    connectionOutputBytes: 64 * 1024,
    outputBytes: 128 * 1024,
    answer: () => Buffer.alloc(16 * 1024, 1),
    onClose: (reason) => reasons.push(reason),
  });
  const flood = await Promise.all(Array.from({ length: 6 }, () => open(t, port)));
  const queries = Buffer.concat(Array.from({ length: 2000 }, () => frame([1])));
  for (const client of flood) {
    client.pause();
    client.write(queries);
  }
  // The kernel's buffers fill, then the budget: nothing moves any more, and the idle timeout is a minute away.
  await waitFor(() => tcp.queuedOutputBytes >= 128 * 1024);
  const probe = await open(t, port, '127.0.0.2');
  const reply = await new Promise<Buffer | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 5000);
    probe.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      resolve(chunk);
    });
    probe.write(frame([5]));
  });
  t.equal(reply?.readUInt16BE(0), 16 * 1024, 'the new client is answered');
  t.ok(reasons.includes('stalled'), `connections that stopped reading made room (${reasons.join(', ')})`);
  t.ok(tcp.queuedOutputBytes <= 128 * 1024 + 16 * 1024 + 2, 'and the budget still holds');
});

t.test(
  'when busy connections of one host take every slot, another host asking for its first takes one of them',
  async (t) => {
    const reasons: string[] = [];
    const { tcp, port } = await front(t, {
      maxConnections: 4,
      maxConnectionsPerSource: 4,
      idleTimeoutMs: 30_000,
      messageTimeoutMs: 30_000,
      onClose: (reason) => reasons.push(reason),
    });
    const ask = (socket: Socket, bytes: number[]): Promise<Buffer | undefined> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve(undefined), 3000);
        socket.once('data', (chunk: Buffer) => {
          clearTimeout(timer);
          resolve(chunk);
        });
        socket.once('close', () => resolve(undefined));
        socket.write(frame(bytes));
      });
    const busy = await Promise.all([1, 2, 3, 4].map(() => open(t, port)));
    // Each has just asked a query: none is stale, so the stalest-connection rule frees nothing.
    for (const [n, socket] of busy.entries()) t.ok(await ask(socket, [n]));
    t.equal(tcp.connectionCount, 4);
    const other = await open(t, port, '127.0.0.2');
    t.same([...((await ask(other, [7, 8])) ?? [])], [0, 2, 8, 7], 'the other host is answered');
    t.same(reasons, ['evicted'], 'one of the busy host’s connections gave way');
    const again = await open(t, port);
    t.equal(
      await closedByServer(again, 2000),
      'server',
      'the busy host, still holding the most, cannot take the slot back',
    );
    t.same(reasons, ['evicted', 'connection_limit']);
  },
);

t.test('a client asking a query goes before connections with pipelined bursts waiting', async (t) => {
  let floodAnswers = 0;
  let floodAnswersBeforeProbe = -1;
  let sendProbe: () => void = () => undefined;
  const { tcp, port } = await front(t, {
    maxConnections: 120,
    maxConnectionsPerSource: 100,
    answer: (message, source) => {
      if (source === '127.0.0.2') floodAnswersBeforeProbe = floodAnswers;
      else if (floodAnswers++ === 0) sendProbe();
      return Buffer.from([1]);
    },
  });
  const flood = await Promise.all(Array.from({ length: 100 }, () => open(t, port)));
  const probe = await open(t, port, '127.0.0.2');
  await waitFor(() => tcp.connectionCount === 101);
  const answered = new Promise<void>((resolve) => probe.once('data', () => resolve()));
  // Sent once the flood is being answered: 100 connections have their bursts waiting then.
  sendProbe = () => probe.write(frame([9]));
  const burst = Buffer.concat(Array.from({ length: 500 }, () => frame([1, 2, 3])));
  for (const client of flood) client.write(burst);
  await answered;
  const bound = 2 * ANSWERS_PER_TURN;
  t.ok(
    floodAnswersBeforeProbe >= 0 && floodAnswersBeforeProbe <= bound,
    `${floodAnswersBeforeProbe} flood answers went first (at most two turns, ${bound}; 100 connections × 8 behind a first-come queue)`,
  );
});

t.test('connections waiting to be accepted are taken in while pipelined queries are answered', async (t) => {
  let answered = 0;
  const answeredAtAccept: number[] = [];
  const { tcp, port } = await front(t, {
    maxConnections: 100,
    maxConnectionsPerSource: 100,
    answer: () => {
      answered++;
      return Buffer.from([1]);
    },
  });
  tcp.server.on('connection', () => answeredAtAccept.push(answered));
  const flood = await Promise.all(Array.from({ length: 20 }, () => open(t, port)));
  await waitFor(() => tcp.connectionCount === 20);
  const burst = Buffer.concat(Array.from({ length: 3000 }, () => frame([1, 2, 3])));
  const firstAnswers = new Promise<void>((resolve) => flood[0].once('data', () => resolve()));
  for (const client of flood) client.write(burst);
  await firstAnswers;
  // 50 handshakes complete in the kernel at once; libuv accepts one connection per turn of the loop.
  answeredAtAccept.length = 0;
  await Promise.all(Array.from({ length: 50 }, () => open(t, port)));
  await waitFor(() => tcp.connectionCount === 70);
  const during = answeredAtAccept[answeredAtAccept.length - 1] - answeredAtAccept[0];
  const bound = 49 * 2 * ANSWERS_WHILE_ACCEPTING;
  t.ok(during < 20 * 3000, 'the flood was still being answered');
  t.ok(during <= bound, `${during} answers while 50 connections were accepted (at most ${bound}; 49 × 64 before)`);
});

t.test('a client that stopped reading its answers is closed a message timeout after they stopped moving', async (t) => {
  const reasons: string[] = [];
  let closed: (reason: string) => void = () => undefined;
  const firstClose = new Promise<string | undefined>((resolve) => {
    closed = resolve;
    setTimeout(() => resolve(undefined), 5000).unref();
  });
  const { tcp, port } = await front(t, {
    idleTimeoutMs: 60_000,
    messageTimeoutMs: 300,
    answer: () => Buffer.alloc(16 * 1024, 1),
    onClose: (reason) => {
      reasons.push(reason);
      closed(reason);
    },
  });
  const client = await open(t, port);
  client.pause();
  // 32 MB of answers: far more than the kernel's buffers take, so they stop moving and stay queued.
  client.write(Buffer.concat(Array.from({ length: 2000 }, () => frame([1]))));
  await waitFor(() => tcp.queuedOutputBytes > 0);
  t.equal(await firstClose, 'stalled', 'closed as stalled, not left to the idle timeout a minute away');
  t.equal(tcp.connectionCount, 0, 'its slot is free');
  t.equal(tcp.queuedOutputBytes, 0, 'and its queued answers are let go');
  t.same(reasons, ['stalled']);
});

/** `count` connections from `localAddress`, each writing `queries` pipelined 30-byte queries and never reading. */
async function pipeliners(
  t: { teardown(fn: () => unknown): void },
  port: number,
  count: number,
  queries: number,
  localAddress = '127.0.0.1',
): Promise<Socket[]> {
  const burst = Buffer.concat(Array.from({ length: queries }, () => frame(Array.from({ length: 28 }, (_, i) => i))));
  const clients = await Promise.all(Array.from({ length: count }, () => open(t, port, localAddress)));
  for (const client of clients) {
    client.pause();
    client.write(burst);
  }
  return clients;
}

t.test('query bytes read and not yet answered stay bounded however many connections pipeline', async (t) => {
  const total = 40 * 2000;
  let answered = 0;
  let resolveAll: () => void = () => undefined;
  const allAnswered = new Promise<void>((resolve) => (resolveAll = resolve));
  const inputBytes = 65_536;
  const { tcp, port } = await front(t, {
    maxConnections: 40,
    maxConnectionsPerSource: 40,
    inputBytes,
    answer: () => {
      if (++answered === total) resolveAll();
      return Buffer.from([1]);
    },
  });
  // 40 connections × 60 KB: each was read in full as soon as it came (2.4 MB held at once).
  await pipeliners(t, port, 40, 2000);
  await allAnswered;
  const bound = inputBytes + ADMITS_PER_TURN * READ_BYTES;
  t.ok(
    tcp.input.mostHeldBytes <= bound,
    `at most ${tcp.input.mostHeldBytes} bytes held at once (bound ${bound}, 40 × 60 KB before)`,
  );
  t.equal(tcp.heldInputBytes, 0, 'and nothing once all is answered');
});

t.test('a client from a quiet source is read before connections flooding the input budget from another', async (t) => {
  const flood = 20 * 2000;
  let floodAnswered = 0;
  let floodAnsweredWhenProbed = -1;
  const { tcp, port } = await front(t, {
    maxConnections: 40,
    maxConnectionsPerSource: 40,
    inputBytes: 65_536,
    idleTimeoutMs: 60_000,
    answer: (message, source) => {
      if (source === '127.0.0.3') floodAnsweredWhenProbed = floodAnswered;
      else floodAnswered++;
      return Buffer.from([message.length]);
    },
  });
  await pipeliners(t, port, 20, 2000, '127.0.0.2');
  await waitFor(() => tcp.input.full && tcp.input.waiting > 0);
  const probe = await open(t, port, '127.0.0.3');
  const reply = await new Promise<Buffer>((resolve) => {
    probe.once('data', (chunk: Buffer) => resolve(chunk));
    probe.write(frame([5, 6]));
  });
  t.same([...reply], [0, 1, 2], 'the quiet client is answered');
  // Let in behind every flooding connection waiting before it, it came after most of the flood.
  t.ok(
    floodAnsweredWhenProbed < flood / 2,
    `after ${floodAnsweredWhenProbed} of the flood's ${flood} queries (20 connections waited to read before it)`,
  );
});

t.test("when a waiting source's last bytes go, its next connection is let in though the budget is full", async (t) => {
  const { tcp, port } = await front(t, { inputBytes: 2 * READ_BYTES, idleTimeoutMs: 60_000 });
  // Let in before its first read, a connection counts as one read's worth: two fill the budget.
  await open(t, port);
  await open(t, port);
  await waitFor(() => tcp.input.full);
  // A source holding nothing is let in even so, once; its second connection waits.
  const first = await open(t, port, '127.0.0.2');
  await waitFor(() => tcp.input.heldBytes === 0 && tcp.connectionCount === 3 && !tcp.input.waiting);
  const second = await open(t, port, '127.0.0.2');
  await waitFor(() => tcp.input.waiting === 1);
  const reply = firstReply(second, 3000);
  second.write(frame([7, 8]));
  first.destroy();
  t.equal(await reply, '00020807', 'let in once the first has gone, while the other source still fills the budget');
});

t.test('connections that send nothing give way, after a message timeout, to one waiting to read', async (t) => {
  const reasons: string[] = [];
  const { tcp, port } = await front(t, {
    inputBytes: READ_BYTES,
    idleTimeoutMs: 60_000,
    messageTimeoutMs: 100,
    onClose: (reason) => reasons.push(reason),
  });
  // Let in before its first read, it is counted as one read's worth: the budget is full, a
  // minute before its idle timeout.
  const silent = await open(t, port);
  await waitFor(() => tcp.input.full);
  const next = await open(t, port);
  await waitFor(() => tcp.input.waiting === 1);
  const reply = firstReply(next, 3000);
  next.write(frame([7, 8]));
  t.equal(await reply, '00020807', 'the one waiting is read and answered');
  t.equal(await closedByServer(silent, 3000), 'server', 'the silent one was closed');
  t.same(reasons, ['idle']);
});

t.test('connections waiting to read are let in one per turn while connections are being accepted', async (t) => {
  const input = new InputBudget(READ_BYTES, 1000);
  const turns = new AnswerTurns(new OutputBudget(1_000_000), input);
  t.teardown(() => {
    turns.close();
    input.close();
  });
  let admitted = 0;
  const waiter = (): InputWaiter => ({
    sourceKey: '127.0.0.1',
    first: false,
    admitted: () => void admitted++,
    closeSilent: () => undefined,
  });
  input.adjust('127.0.0.1', READ_BYTES);
  for (let i = 0; i < 40; i++) input.mayRead(waiter(), false);
  t.equal(input.waiting, 40, 'the budget is full: all wait');
  // Room, and a connection was just accepted: libuv accepts one per turn, and a turn that reads
  // 16 connections' 64 KiB each made the next accept wait that much longer.
  input.adjust('127.0.0.1', -READ_BYTES);
  turns.accepted();
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(admitted, 1, 'one let in by the turn after an accept');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(admitted, 1 + ADMITS_PER_TURN, `then ${ADMITS_PER_TURN} a turn`);
});

t.test('between waiting sources that hold nothing, the one with fewer connections is let in first', async (t) => {
  const connections = new Map([
    ['10.0.0.2', 16],
    ['10.0.0.3', 1],
  ]);
  const input = new InputBudget(READ_BYTES, 1000, (source) => connections.get(source) ?? 0);
  t.teardown(() => input.close());
  const order: string[] = [];
  const waiter = (sourceKey: string): InputWaiter => ({
    sourceKey,
    first: false,
    admitted: () => void order.push(sourceKey),
    closeSilent: () => undefined,
  });
  input.adjust('10.0.0.1', READ_BYTES);
  for (let i = 0; i < 16; i++) input.mayRead(waiter('10.0.0.2'), false);
  input.mayRead(waiter('10.0.0.3'), false);
  // Full: only sources holding nothing are let in, one here (a turn that follows an accept).
  input.turn(1);
  t.same(order, ['10.0.0.3'], 'the client with one connection, though it came last');
});

import t from 'tap';
import { connect } from 'node:net';
import { MAX_QUERY_BYTES, TcpFront } from '../src/dns/tcp.js';

/** A front that answers each message with itself reversed, so replies are easy to check. */
async function front(
  t: { teardown(fn: () => unknown): void },
  options: Partial<ConstructorParameters<typeof TcpFront>[0]> = {},
) {
  const seen: string[] = [];
  const tcp = new TcpFront({
    maxConnections: 10,
    idleTimeoutMs: 2000,
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

/**
 * Connections that their clients close all at once (issue #13): the server closes an idle one as
 * soon as it reads the client's FIN, without the half-close (a shutdown(), one more loop turn per
 * connection) that Node's http would send first. A connection with a request in flight is left
 * to Node. Over real sockets, at a small scale: the cost itself is measured in
 * bench/hostile-connections.ts, not here.
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { startTestKonsul } from './helpers/konsul.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

const CONNECTIONS = 200;

function openIdle(t: Teardown, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
    t.teardown(() => socket.destroy());
  });
}

/** Reads one keep-alive answer to GET /health/live, leaving the connection open and idle. */
function askLive(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    const onData = (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const headEnd = received.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(received);
      if (headEnd === -1 || length === null || received.length < headEnd + 4 + Number(length[1])) return;
      socket.off('data', onData);
      resolve(received);
    };
    socket.on('data', onData);
    socket.write('GET /health/live HTTP/1.1\r\nHost: konsul\r\n\r\n');
  });
}

t.test('connections their clients close while idle are closed without a half-close first', async (t) => {
  const server = await startTestKonsul(t);
  // What the server's side of each connection did before it closed: 'finish' is its write side
  // ending, which for a socket means a shutdown() sent.
  const serverSides: Promise<{ finished: boolean }>[] = [];
  let allAccepted: () => void = () => undefined;
  const accepted = new Promise<void>((resolve) => (allAccepted = resolve));
  server.app.server.on('connection', (socket: Socket) => {
    let finished = false;
    socket.once('finish', () => (finished = true));
    serverSides.push(new Promise((resolve) => socket.once('close', () => resolve({ finished }))));
    if (serverSides.length === CONNECTIONS) allAccepted();
  });
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => openIdle(t, server.httpPort)));
  // Half have been answered once and wait between requests (keep-alive), half never sent a byte.
  const answers = await Promise.all(clients.slice(0, CONNECTIONS / 2).map(askLive));
  t.ok(
    answers.every((answer) => answer.startsWith('HTTP/1.1 200 ')),
    'the kept-alive half was answered',
  );
  // A client's connect comes before the server's accept; each side of the close is watched.
  await accepted;

  for (const client of clients) client.destroy();
  const closed = await Promise.all(serverSides);
  t.equal(
    closed.filter((side) => side.finished).length,
    0,
    'no server side sent a shutdown() before closing: every one was closed at the client FIN',
  );
  t.equal(
    (await server.metrics.registry.getSingleMetric('konsul_http_connections_shed_total')?.get())?.values[0]?.value,
    0,
    'closing at the client FIN is not shedding',
  );
});

t.test('a client that closes before its request headers are complete is closed without an answer', async (t) => {
  const server = await startTestKonsul(t);
  const client = await openIdle(t, server.httpPort);
  let received = '';
  client.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.end('GET /health/live HTTP/1.1\r\nHost: kon');
  await closed;
  t.equal(received, '', 'like nginx: nothing is sent to a client that has gone');
});

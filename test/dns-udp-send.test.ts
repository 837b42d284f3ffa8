/**
 * UDP answers carry a completion callback one in SEND_CHECK_INTERVAL times (udp-send.ts): a
 * failure that lasts is still seen and reported, and the other answers skip the tick a callback
 * costs. The socket's lookup answers an IP literal at once. Real sockets on loopback; the
 * failure is the kernel's EMSGSIZE for a datagram over 65,507 bytes.
 */
import { createSocket } from 'node:dgram';
import t from 'tap';
import { literalLookup, SEND_CHECK_INTERVAL, SendCheck } from '../src/dns/udp-send.js';

t.test('one send in the interval, the first among them, carries the callback', async (t) => {
  const check = new SendCheck(() => {}, 4);
  const carried = Array.from({ length: 10 }, () => check.next() !== undefined);
  t.same(carried, [true, false, false, false, true, false, false, false, true, false]);
  t.equal(SEND_CHECK_INTERVAL, 64);
});

t.test('a send that keeps failing is reported from the checked sends', async (t) => {
  const socket = createSocket('udp4');
  t.teardown(() => socket.close());
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const target = createSocket('udp4');
  t.teardown(() => target.close());
  await new Promise<void>((resolve) => target.bind(0, '127.0.0.1', resolve));
  const port = target.address().port;

  const seen: string[] = [];
  const check = new SendCheck((error) => seen.push((error as NodeJS.ErrnoException).code ?? 'none'));
  const tooLarge = Buffer.alloc(70_000);
  const sends = 2 * SEND_CHECK_INTERVAL + 1;
  for (let i = 0; i < sends; i++) socket.send(tooLarge, port, '127.0.0.1', check.next());
  // A sent datagram is how the test knows every callback above has run: callbacks of sends that
  // finished at once come on the next tick, before this one's.
  await new Promise<void>((resolve) => socket.send(Buffer.from('ok'), port, '127.0.0.1', () => resolve()));
  t.same(seen, ['EMSGSIZE', 'EMSGSIZE', 'EMSGSIZE'], 'the three checked sends of 129 report their failure');
  t.equal(check.failures, 3);
});

t.test('the lookup answers an address literal at once, and anything else through dns.lookup', async (t) => {
  const answers: [string, number][] = [];
  literalLookup('127.0.0.7', 4, (error, address, family) => {
    t.equal(error, null);
    answers.push([address, family]);
  });
  literalLookup('::1', 6, (_error, address, family) => answers.push([address, family]));
  t.same(
    answers,
    [
      ['127.0.0.7', 4],
      ['::1', 6],
    ],
    'before returning, not on a later tick',
  );
  const resolved = await new Promise<[string, number]>((resolve, reject) =>
    literalLookup('localhost', 4, (error, address, family) => (error ? reject(error) : resolve([address, family]))),
  );
  t.same(resolved, ['127.0.0.1', 4], 'a name still resolves');
});

t.test('a socket with this lookup sends answers to the peer that asked', async (t) => {
  const socket = createSocket({ type: 'udp4', lookup: literalLookup as never });
  t.teardown(() => socket.close());
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const peer = createSocket('udp4');
  t.teardown(() => peer.close());
  await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
  const received = new Promise<string>((resolve) => peer.once('message', (message) => resolve(message.toString())));
  socket.send(Buffer.from('answer'), peer.address().port, '127.0.0.1');
  t.equal(await received, 'answer');
});

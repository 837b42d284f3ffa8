import t from 'tap';
import { parseNetwork, SourceFilter } from '../src/dns/allow-from.js';
import { startTestKonsul } from './helpers/konsul.js';

t.test('networks are CIDRs or bare addresses of either family', async (t) => {
  t.same(parseNetwork('10.0.0.0/8'), { octets: Buffer.from([10, 0, 0, 0]), prefix: 8 });
  t.same(parseNetwork('192.0.2.7'), { octets: Buffer.from([192, 0, 2, 7]), prefix: 32 });
  t.same(parseNetwork('0.0.0.0/0'), { octets: Buffer.alloc(4), prefix: 0 });
  t.same(parseNetwork('fd00::/8'), { octets: Buffer.from([0xfd, ...new Array<number>(15).fill(0)]), prefix: 8 });
  t.same(parseNetwork('::1'), { octets: Buffer.from([...new Array<number>(15).fill(0), 1]), prefix: 128 });
});

t.test('anything else is refused with the reason', async (t) => {
  t.equal(parseNetwork('10.0.0.1/8'), '"10.0.0.1/8" has bits set past /8');
  t.equal(parseNetwork('10.1.0.0/15'), '"10.1.0.0/15" has bits set past /15');
  t.equal(parseNetwork('fd00::1/64'), '"fd00::1/64" has bits set past /64');
  t.equal(parseNetwork('10.0.0.0/33'), '"10.0.0.0/33" needs a prefix length from 0 to 32');
  t.equal(parseNetwork('::/129'), '"::/129" needs a prefix length from 0 to 128');
  t.equal(parseNetwork('10.0.0.0/'), '"10.0.0.0/" needs a prefix length from 0 to 32');
  t.equal(parseNetwork('10.0.0.0/-1'), '"10.0.0.0/-1" needs a prefix length from 0 to 32');
  t.equal(parseNetwork('10.0.0/8'), '"10.0.0/8" is not an IPv4 or IPv6 address or CIDR');
  t.equal(parseNetwork('fe80::1%eth0'), '"fe80::1%eth0" is not an IPv4 or IPv6 address or CIDR');
  t.equal(parseNetwork('localhost'), '"localhost" is not an IPv4 or IPv6 address or CIDR');
});

t.test('a filter allows exactly the sources inside one of its networks', async (t) => {
  const filter = new SourceFilter(['10.1.2.0/23', '192.0.2.9', '2001:db8:ab00::/40']);
  t.ok(filter.restricts);
  t.ok(filter.allows('10.1.2.1'));
  t.ok(filter.allows('10.1.3.255'), 'the /23 spans two /24s');
  t.notOk(filter.allows('10.1.4.0'));
  t.notOk(filter.allows('10.1.1.255'));
  t.ok(filter.allows('192.0.2.9'));
  t.notOk(filter.allows('192.0.2.10'));
  t.ok(filter.allows('2001:db8:abff::1'));
  t.notOk(filter.allows('2001:db8:ac00::1'));
  t.ok(filter.allows('::ffff:10.1.2.3'), 'an IPv4-mapped peer (dual-stack socket) is matched as IPv4');
  t.notOk(filter.allows('::ffff:10.9.9.9'));
  t.notOk(filter.allows(''), 'an unknown peer address is refused');
  t.ok(filter.allows('10.1.2.1'), 'the remembered verdict is the same');
});

t.test('an empty list allows everyone; 0.0.0.0/0 allows every IPv4 source only', async (t) => {
  const open = new SourceFilter([]);
  t.notOk(open.restricts);
  t.ok(open.allows('203.0.113.1'));
  t.ok(open.allows('2001:db8::1'));
  const v4 = new SourceFilter(['0.0.0.0/0']);
  t.ok(v4.allows('203.0.113.1'));
  t.notOk(v4.allows('2001:db8::1'));
});

t.test('a flood of distinct sources does not grow the remembered verdicts without bound', async (t) => {
  const filter = new SourceFilter(['10.0.0.0/8']);
  for (let i = 0; i < 20_000; i++) filter.allows(`172.16.${i >> 8}.${i & 0xff}`);
  const remembered = (filter as unknown as { verdicts: Map<string, boolean> }).verdicts.size;
  t.ok(remembered <= 4096, `${remembered} remembered`);
  t.ok(filter.allows('10.0.0.1'));
});

t.test('the whole server warns at start-up when HTTP reads need the token and DNS is open to all', async (t) => {
  const warning = /auth\.protectReads.*dns\.allowFrom/;
  const open = await startTestKonsul(t, {
    auth: { token: 'secret', protectReads: true },
    dns: { enabled: true, port: 0 },
  });
  t.ok(
    open.logs.some((line) => warning.test(line)),
    'warned',
  );
  const restricted = await startTestKonsul(t, {
    auth: { token: 'secret', protectReads: true },
    dns: { enabled: true, port: 0, allowFrom: ['127.0.0.0/8'] },
  });
  t.notOk(
    restricted.logs.some((line) => warning.test(line)),
    'no warning once DNS has an allowlist',
  );
});

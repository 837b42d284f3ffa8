import t from 'tap';
import { connect, type Socket } from 'node:net';
import DNS from 'dns2';
import pino from 'pino';
import {
  buildQuery,
  decodeMessage,
  type DecodedMessage,
  RCODE,
  startDnsFixture,
  tcpExchange,
  TYPE,
  UdpExchange,
  udpQuery,
} from './helpers/dns-client.js';

const ttlCheck = (status: 'passing' | 'warning' | 'critical' = 'passing') => [
  { type: 'ttl' as const, ttl: '30s', status },
];

t.test(
  'an A query answers every IPv4 instance, authoritatively, with the configured TTL and the question echoed',
  async (t) => {
    const dns = await startDnsFixture(t, { ttl: 30 });
    await dns.register({ name: 'web', address: '10.0.0.1', port: 80 });
    await dns.register({ name: 'web', address: '10.0.0.2', port: 80 });
    await dns.register({ name: 'web', address: 'fd00::1', port: 80 });
    const reply = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.A, { id: 4242 });
    t.equal(reply.id, 4242);
    t.ok(reply.qr && reply.aa && reply.rd, 'QR, AA and the query RD are set');
    t.notOk(reply.ra, 'recursion is never offered');
    t.equal(reply.rcode, RCODE.NOERROR);
    t.same(reply.question, { name: 'web.service.konsul', type: TYPE.A, class: 1 });
    t.same(reply.answers.map((record) => record.address).sort(), ['10.0.0.1', '10.0.0.2']);
    t.ok(
      reply.answers.every(
        (record) => record.type === TYPE.A && record.ttl === 30 && record.name === 'web.service.konsul',
      ),
    );
    t.same(reply.authority, []);
    t.equal(reply.opt, undefined, 'no OPT in the answer to a query without one');
  },
);

t.test('an AAAA query answers the IPv6 instances only', async (t) => {
  const dns = await startDnsFixture(t);
  await dns.register({ name: 'web', address: '10.0.0.1', port: 80 });
  await dns.register({ name: 'web', address: 'fd00::1', port: 80 });
  await dns.register({ name: 'web', address: '2001:db8::a:b', port: 81 });
  const reply = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.AAAA);
  t.same(reply.answers.map((record) => record.address).sort(), ['2001:db8:0:0:0:0:a:b', 'fd00:0:0:0:0:0:0:1']);
  t.ok(reply.answers.every((record) => record.type === TYPE.AAAA));
});

t.test(
  'an SRV query answers priority 1, the weight, the port and an .addr. target whose address is in the additional section',
  async (t) => {
    const dns = await startDnsFixture(t);
    await dns.register({ id: 'a', name: 'api', address: '10.0.0.1', port: 8080, weight: 5 });
    await dns.register({ id: 'b', name: 'api', address: '10.0.0.1', port: 8081, weight: 1 });
    await dns.register({ id: 'c', name: 'api', address: 'fd00::2', port: 9090, weight: 2 });
    const reply = await udpQuery(t, dns.server.port, 'api.service.konsul', TYPE.SRV);
    const srv = reply.answers.map(({ type, priority, weight, port, target }) => ({
      type,
      priority,
      weight,
      port,
      target,
    }));
    t.same(
      srv.sort((x, y) => x.port! - y.port!),
      [
        { type: TYPE.SRV, priority: 1, weight: 5, port: 8080, target: '0a000001.addr.konsul' },
        { type: TYPE.SRV, priority: 1, weight: 1, port: 8081, target: '0a000001.addr.konsul' },
        { type: TYPE.SRV, priority: 1, weight: 2, port: 9090, target: 'fd000000000000000000000000000002.addr.konsul' },
      ],
    );
    t.same(
      reply.additional.map(({ name, type, address }) => ({ name, type, address })).sort((x, y) => x.type - y.type),
      [
        { name: '0a000001.addr.konsul', type: TYPE.A, address: '10.0.0.1' },
        { name: 'fd000000000000000000000000000002.addr.konsul', type: TYPE.AAAA, address: 'fd00:0:0:0:0:0:0:2' },
      ],
      'one address record per distinct target',
    );
  },
);

t.test('the .addr. target names resolve to their addresses on their own', async (t) => {
  const dns = await startDnsFixture(t);
  const v4 = await udpQuery(t, dns.server.port, '0a000001.addr.konsul', TYPE.A);
  t.same(
    v4.answers.map((record) => record.address),
    ['10.0.0.1'],
  );
  const v6 = await udpQuery(t, dns.server.port, 'fd000000000000000000000000000002.addr.konsul', TYPE.AAAA);
  t.same(
    v6.answers.map((record) => record.address),
    ['fd00:0:0:0:0:0:0:2'],
  );
  const wrongFamily = await udpQuery(t, dns.server.port, '0a000001.addr.konsul', TYPE.AAAA);
  t.equal(wrongFamily.rcode, RCODE.NOERROR);
  t.equal(wrongFamily.answers.length, 0);
  const notHex = await udpQuery(t, dns.server.port, 'zz000001.addr.konsul', TYPE.A);
  t.equal(notHex.rcode, RCODE.NXDOMAIN);
});

t.test('a tag label narrows the answer to instances carrying the tag, whatever its case', async (t) => {
  const dns = await startDnsFixture(t);
  await dns.register({ name: 'web', address: '10.0.0.1', port: 80, tags: ['V2', 'primary'] });
  await dns.register({ name: 'web', address: '10.0.0.2', port: 80, tags: ['v1'] });
  const v2 = await udpQuery(t, dns.server.port, 'v2.web.service.konsul', TYPE.A);
  t.same(
    v2.answers.map((record) => record.address),
    ['10.0.0.1'],
  );
  const v1 = await udpQuery(t, dns.server.port, 'V1.web.service.konsul', TYPE.A);
  t.same(
    v1.answers.map((record) => record.address),
    ['10.0.0.2'],
  );
});

t.test('RFC 2782 names answer SRV: _tcp and _udp mean no tag, any other protocol label is a tag', async (t) => {
  const dns = await startDnsFixture(t);
  await dns.register({ name: 'web', address: '10.0.0.1', port: 80, tags: ['v2'] });
  await dns.register({ name: 'web', address: '10.0.0.2', port: 81 });
  const all = await udpQuery(t, dns.server.port, '_web._tcp.service.konsul', TYPE.SRV);
  t.same(all.answers.map((record) => record.port).sort(), [80, 81]);
  t.equal(all.answers[0].name, '_web._tcp.service.konsul', 'records are owned by the name asked');
  const udp = await udpQuery(t, dns.server.port, '_web._udp.service.konsul', TYPE.SRV);
  t.equal(udp.answers.length, 2);
  const tagged = await udpQuery(t, dns.server.port, '_web._v2.service.konsul', TYPE.SRV);
  t.same(
    tagged.answers.map((record) => record.port),
    [80],
  );
  const half = await udpQuery(t, dns.server.port, '_web.tcp.service.konsul', TYPE.SRV);
  t.equal(half.rcode, RCODE.NXDOMAIN, 'both labels need the underscore');
});

t.test('names are matched without case and the question comes back with the case it was asked in', async (t) => {
  const dns = await startDnsFixture(t);
  await dns.register({ name: 'web', address: '10.0.0.1', port: 80 });
  const reply = await udpQuery(t, dns.server.port, 'WeB.SeRvIcE.KoNsUl', TYPE.A);
  t.equal(reply.question?.name, 'WeB.SeRvIcE.KoNsUl');
  t.same(
    reply.answers.map((record) => [record.name, record.address]),
    [['WeB.SeRvIcE.KoNsUl', '10.0.0.1']],
  );
});

t.test('a name in the zone that does not exist is NXDOMAIN with the SOA in the authority section', async (t) => {
  const dns = await startDnsFixture(t, { ttl: 15 });
  await dns.register({ name: 'web', address: '10.0.0.1', port: 80, tags: ['v1'] });
  for (const name of ['nope.service.konsul', 'v9.web.service.konsul', 'what.konsul', 'a.b.web.service.konsul']) {
    const reply = await udpQuery(t, dns.server.port, name, TYPE.A);
    t.equal(reply.rcode, RCODE.NXDOMAIN, name);
    t.ok(reply.aa, `${name} is answered authoritatively`);
    t.equal(reply.answers.length, 0);
    t.equal(reply.authority.length, 1);
    const [soa] = reply.authority;
    t.equal(soa.type, TYPE.SOA);
    t.equal(soa.name, 'konsul');
    t.equal(soa.ttl, 15);
    t.same(soa.soa, { mname: 'ns.konsul', rname: 'hostmaster.konsul', serial: dns.catalog.index, minimum: 15 });
  }
});

t.test('a service that exists without an eligible instance is NOERROR with no answers and the SOA', async (t) => {
  const dns = await startDnsFixture(t);
  await dns.register({ id: 'down', name: 'web', address: '10.0.0.1', port: 80, checks: ttlCheck('critical') });
  const critical = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.A);
  t.equal(critical.rcode, RCODE.NOERROR);
  t.equal(critical.answers.length, 0);
  t.equal(critical.authority[0]?.type, TYPE.SOA);
  const noV6 = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.AAAA);
  t.equal(noV6.rcode, RCODE.NOERROR);
  t.equal(noV6.authority[0]?.type, TYPE.SOA);
  const mx = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.MX);
  t.equal(mx.rcode, RCODE.NOERROR, 'a type a service name never holds is NODATA, not an error');
  t.equal(mx.answers.length, 0);
});

t.test('a name outside the zone is REFUSED: Konsul never recurses', async (t) => {
  const dns = await startDnsFixture(t);
  const reply = await udpQuery(t, dns.server.port, 'example.com', TYPE.A);
  t.equal(reply.rcode, RCODE.REFUSED);
  t.notOk(reply.aa);
  t.notOk(reply.ra);
  t.equal(reply.answers.length + reply.authority.length + reply.additional.length, 0);
  const suffix = await udpQuery(t, dns.server.port, 'web.service.notkonsul', TYPE.A);
  t.equal(suffix.rcode, RCODE.REFUSED, 'a label that merely ends like the domain is outside it');
});

t.test('the zone apex answers SOA and NS', async (t) => {
  const dns = await startDnsFixture(t);
  const soa = await udpQuery(t, dns.server.port, 'konsul', TYPE.SOA);
  t.equal(soa.answers[0].type, TYPE.SOA);
  t.equal(soa.answers[0].soa?.mname, 'ns.konsul');
  const ns = await udpQuery(t, dns.server.port, 'konsul', TYPE.NS);
  t.same(
    ns.answers.map((record) => record.target),
    ['ns.konsul'],
  );
  t.same(
    ns.additional.map((record) => [record.name, record.address]),
    [['ns.konsul', '127.0.0.1']],
    'glue for the listening address',
  );
  const glue = await udpQuery(t, dns.server.port, 'ns.konsul', TYPE.A);
  t.same(
    glue.answers.map((record) => record.address),
    ['127.0.0.1'],
  );
  const apexA = await udpQuery(t, dns.server.port, 'konsul', TYPE.A);
  t.equal(apexA.rcode, RCODE.NOERROR);
  t.equal(apexA.authority[0]?.type, TYPE.SOA);
});

t.test('critical instances are left out and warning ones stay unless onlyPassing is set', async (t) => {
  const dns = await startDnsFixture(t);
  await dns.register({ name: 'web', address: '10.0.0.1', port: 80, checks: ttlCheck('passing') });
  await dns.register({ name: 'web', address: '10.0.0.2', port: 80, checks: ttlCheck('warning') });
  await dns.register({ name: 'web', address: '10.0.0.3', port: 80, checks: ttlCheck('critical') });
  const reply = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.A);
  t.same(reply.answers.map((record) => record.address).sort(), ['10.0.0.1', '10.0.0.2']);

  const strict = await startDnsFixture(t, { onlyPassing: true });
  await strict.register({ name: 'web', address: '10.0.0.1', port: 80, checks: ttlCheck('passing') });
  await strict.register({ name: 'web', address: '10.0.0.2', port: 80, checks: ttlCheck('warning') });
  const passing = await udpQuery(t, strict.server.port, 'web.service.konsul', TYPE.A);
  t.same(
    passing.answers.map((record) => record.address),
    ['10.0.0.1'],
  );
});

t.test('a health change is seen by the next query', async (t) => {
  const dns = await startDnsFixture(t);
  await dns.register({ id: 'one', name: 'web', address: '10.0.0.1', port: 80 });
  await dns.register({ id: 'two', name: 'web', address: '10.0.0.2', port: 80 });
  const before = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.A);
  t.equal(before.answers.length, 2);
  await dns.catalog.updateCheck('service:two', 'critical', 'down');
  const after = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.A);
  t.same(
    after.answers.map((record) => record.address),
    ['10.0.0.1'],
  );
});

t.test('repeated queries rotate the order round-robin', async (t) => {
  const dns = await startDnsFixture(t);
  for (const host of [1, 2, 3]) await dns.register({ name: 'web', address: `10.0.0.${host}`, port: 80 });
  const exchange = new UdpExchange(t, dns.server.port);
  const orders: string[][] = [];
  for (let i = 0; i < 3; i++)
    orders.push(
      (await exchange.query(buildQuery('web.service.konsul', TYPE.A, { id: i }))).answers.map(
        (record) => record.address!,
      ),
    );
  t.same(new Set(orders.map((order) => order[0])).size, 3, 'each instance leads once in three queries');
  for (const order of orders.slice(1)) {
    const shift = order.indexOf(orders[0][0]);
    t.same(
      order,
      [...orders[0].slice(3 - shift), ...orders[0].slice(0, 3 - shift)],
      'each order is a rotation of the first',
    );
  }
});

t.test('maxAnswers caps the address records of an answer', async (t) => {
  const dns = await startDnsFixture(t, { maxAnswers: 2 });
  for (const host of [1, 2, 3, 4]) await dns.register({ name: 'web', address: `10.0.0.${host}`, port: 80 });
  const a = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.A);
  t.equal(a.answers.length, 2);
  const srv = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.SRV);
  t.equal(srv.answers.length, 4, 'SRV answers are not capped');
});

t.test(
  'a UDP answer over 512 bytes keeps the whole records that fit and sets TC; TCP returns all of them',
  async (t) => {
    const dns = await startDnsFixture(t);
    for (let host = 1; host <= 40; host++) await dns.register({ name: 'big', address: `10.0.1.${host}`, port: 80 });
    const udp = await udpQuery(t, dns.server.port, 'big.service.konsul', TYPE.A);
    t.ok(udp.tc, 'TC set');
    t.ok(udp.size <= 512);
    t.ok(udp.answers.length >= 25 && udp.answers.length < 40, `kept ${udp.answers.length} whole A records`);
    const [tcpA, tcpSrv] = await tcpExchange(dns.server.port, [
      buildQuery('big.service.konsul', TYPE.A, { id: 1 }),
      buildQuery('big.service.konsul', TYPE.SRV, { id: 2 }),
    ]);
    t.notOk(tcpA.tc);
    t.equal(tcpA.answers.length, 40);
    t.equal(tcpSrv.answers.length, 40);
    t.equal(tcpSrv.additional.length, 40);
    const metrics = await dns.registry.getSingleMetricAsString('konsul_dns_truncated_total');
    t.match(metrics, /konsul_dns_truncated_total 1\b/);
  },
);

t.test('EDNS0 raises the UDP limit to the offered size (clamped to 4096) and the OPT record is echoed', async (t) => {
  // dns.udpAnswerLimit at its highest, so only the client's offer and the protocol bound apply.
  const dns = await startDnsFixture(t, { udpAnswerLimit: 4096 });
  for (let host = 1; host <= 40; host++) await dns.register({ name: 'big', address: `10.0.1.${host}`, port: 80 });
  const medium = await udpQuery(t, dns.server.port, 'big.service.konsul', TYPE.SRV, { udpSize: 1232 });
  t.ok(medium.tc);
  t.ok(medium.size <= 1232 && medium.size > 1000, `${medium.size} bytes`);
  t.equal(medium.additional.length, 0, 'additional records go first');
  t.equal(medium.opt?.udpSize, 1232, 'OPT kept in a truncated answer');
  const large = await udpQuery(t, dns.server.port, 'big.service.konsul', TYPE.SRV, { udpSize: 4096, dnssecOk: true });
  t.notOk(large.tc);
  t.equal(large.answers.length, 40);
  t.equal(large.additional.length, 40);
  t.equal(large.opt?.version, 0);
  t.equal(large.opt?.dnssecOk, true, 'DO copied from the query');
  const huge = await udpQuery(t, dns.server.port, 'big.service.konsul', TYPE.SRV, { udpSize: 65000 });
  t.ok(huge.size <= 4096);
  const tiny = await udpQuery(t, dns.server.port, 'big.service.konsul', TYPE.A, { udpSize: 100 });
  t.ok(tiny.size <= 512 && tiny.size > 400, 'offers below 512 count as 512 (RFC 6891 §6.2.5)');
});

t.test('an EDNS version above 0 is answered BADVERS', async (t) => {
  const dns = await startDnsFixture(t);
  const reply = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.A, { ednsVersion: 1 });
  t.equal(reply.rcode, RCODE.BADVERS);
  t.equal(reply.opt?.version, 0);
});

t.test('hostname instances answer a CNAME to A queries and are the SRV target', async (t) => {
  const dns = await startDnsFixture(t);
  await dns.register({ name: 'db', address: 'db-1.example.com', port: 5432 });
  const a = await udpQuery(t, dns.server.port, 'db.service.konsul', TYPE.A);
  t.same(
    a.answers.map(({ type, target }) => ({ type, target })),
    [{ type: TYPE.CNAME, target: 'db-1.example.com' }],
  );
  const srv = await udpQuery(t, dns.server.port, 'db.service.konsul', TYPE.SRV);
  t.same(
    srv.answers.map(({ target, port }) => ({ target, port })),
    [{ target: 'db-1.example.com', port: 5432 }],
  );
  t.same(srv.additional, []);
  await dns.register({ name: 'db', address: 'db-2.example.com', port: 5432 });
  const two = await udpQuery(t, dns.server.port, 'db.service.konsul', TYPE.A);
  t.equal(two.answers.length, 1, 'a name holds one CNAME (RFC 1034 §3.6.2)');
  await dns.register({ name: 'db', address: '10.0.0.9', port: 5432 });
  const mixed = await udpQuery(t, dns.server.port, 'db.service.konsul', TYPE.A);
  t.same(
    mixed.answers.map(({ type, address }) => ({ type, address })),
    [{ type: TYPE.A, address: '10.0.0.9' }],
    'addresses win over aliases',
  );
});

t.test('ip-hash orders by the EDNS Client Subnet when one is sent and says so in the scope', async (t) => {
  const dns = await startDnsFixture(t, { lb: 'ip-hash' });
  for (let host = 1; host <= 8; host++) await dns.register({ name: 'web', address: `10.0.0.${host}`, port: 80 });
  const firsts = new Set<string>();
  for (let subnet = 0; subnet < 16; subnet++) {
    const clientSubnet = { address: `198.51.${subnet}.0`, prefix: 24 };
    const one = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.A, { clientSubnet });
    const two = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.A, { clientSubnet });
    t.same(
      one.answers.map((r) => r.address),
      two.answers.map((r) => r.address),
      'same subnet, same order',
    );
    firsts.add(one.answers[0].address!);
    const ecs = one.opt?.options.find((option) => option.code === 8);
    t.ok(ecs !== undefined && ecs.data[2] === 24 && ecs.data[3] === 24, 'ECS echoed with scope = source prefix');
  }
  t.ok(firsts.size > 1, 'different subnets land on different instances');
});

t.test('round-robin echoes the Client Subnet with scope 0: the answer does not depend on it', async (t) => {
  const dns = await startDnsFixture(t);
  await dns.register({ name: 'web', address: '10.0.0.1', port: 80 });
  const reply = await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.A, {
    clientSubnet: { address: '2001:db8::', prefix: 56 },
  });
  const ecs = reply.opt?.options.find((option) => option.code === 8);
  t.same([...(ecs?.data ?? [])], [0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0]);
});

t.test(
  'a 17-byte packet claiming 65535 questions is answered FORMERR at once and the server keeps answering',
  async (t) => {
    const dns = await startDnsFixture(t);
    await dns.register({ name: 'web', address: '10.0.0.1', port: 80 });
    const exchange = new UdpExchange(t, dns.server.port);
    const hostile = Buffer.from([
      0xbe, 0xef, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03, 0x77, 0x77, 0x77, 0x00,
    ]);
    const started = performance.now();
    await exchange.send(hostile);
    const raw = await exchange.next();
    t.ok(performance.now() - started < 2000, 'answered at once, not after seconds of parsing');
    const formerr = decodeMessage(raw!);
    t.equal(formerr.id, 0xbeef);
    t.equal(formerr.rcode, RCODE.FORMERR);
    t.equal(formerr.question, undefined);
    const ok = await exchange.query(buildQuery('web.service.konsul', TYPE.A));
    t.same(
      ok.answers.map((record) => record.address),
      ['10.0.0.1'],
    );
    t.match(await dns.registry.getSingleMetricAsString('konsul_dns_malformed_total'), /reason="counts"} 1/);
  },
);

t.test('a burst of random bytes neither crashes nor silences the server', async (t) => {
  const dns = await startDnsFixture(t);
  await dns.register({ name: 'web', address: '10.0.0.1', port: 80 });
  const exchange = new UdpExchange(t, dns.server.port);
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  for (let i = 0; i < 400; i++) {
    const packet = Buffer.alloc(Math.floor(random() * 300));
    for (let j = 0; j < packet.length; j++) packet[j] = Math.floor(random() * 256);
    // Some random packets look like queries of names in the zone: keep a few bytes realistic.
    if (i % 4 === 0 && packet.length > 12) packet.writeUInt16BE(1, 4);
    await exchange.send(packet);
  }
  // Like any DNS client, retry: the kernel may drop datagrams while the server works through the burst.
  const client = new UdpExchange(t, dns.server.port);
  let ok: DecodedMessage | undefined;
  for (let attempt = 0; attempt < 5 && ok === undefined; attempt++) {
    await client.send(buildQuery('web.service.konsul', TYPE.A, { id: 777 }));
    const raw = await client.next(500);
    if (raw !== undefined) ok = decodeMessage(raw);
  }
  if (ok === undefined) throw new Error('no answer after the burst');
  t.equal(ok.id, 777);
  t.same(
    ok.answers.map((record) => record.address),
    ['10.0.0.1'],
  );
  // Each random packet is either malformed (counted) or a well-formed header with an opcode other than QUERY (NOTIMP).
  const text = await dns.registry.metrics();
  const malformed = [...text.matchAll(/^konsul_dns_malformed_total\{[^}]*\} (\d+)$/gm)].reduce(
    (sum, match) => sum + Number(match[1]),
    0,
  );
  const notimp = Number(/^konsul_dns_queries_total\{qtype="none",rcode="NOTIMP"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  t.ok(malformed > 100, `${malformed} malformed packets counted`);
  t.ok(malformed + notimp >= 300, `${malformed + notimp} of 400 random packets accounted for`);
});

t.test('a message with QR set is ignored and one with another opcode is NOTIMP', async (t) => {
  const dns = await startDnsFixture(t);
  const exchange = new UdpExchange(t, dns.server.port);
  const response = buildQuery('web.service.konsul', TYPE.A, { id: 1 });
  response.writeUInt16BE(0x8000, 2);
  await exchange.send(response);
  const notify = buildQuery('konsul', TYPE.SOA, { id: 2 });
  notify.writeUInt16BE(4 << 11, 2);
  await exchange.send(notify);
  const reply = decodeMessage((await exchange.next())!);
  t.equal(reply.id, 2, 'the first reply is to the NOTIFY: the response got none');
  t.equal(reply.opcode, 4);
  t.equal(reply.rcode, RCODE.NOTIMP);
});

t.test('classes other than IN, zone transfers and OPT as a question are refused without harm', async (t) => {
  const dns = await startDnsFixture(t);
  const chaos = await udpQuery(t, dns.server.port, 'version.bind', 16, { qclass: 3 });
  t.equal(chaos.rcode, RCODE.NOTIMP);
  const axfr = await udpQuery(t, dns.server.port, 'konsul', TYPE.AXFR);
  t.equal(axfr.rcode, RCODE.NOTIMP);
  const opt = await udpQuery(t, dns.server.port, 'konsul', TYPE.OPT);
  t.equal(opt.rcode, RCODE.FORMERR);
  const queries = await dns.registry.getSingleMetricAsString('konsul_dns_queries_total');
  t.match(queries, /qtype="AXFR",rcode="NOTIMP"} 1/);
  t.match(queries, /qtype="TXT",rcode="NOTIMP"} 1/);
});

t.test('TCP carries several queries per connection, split across reads, in order', async (t) => {
  const dns = await startDnsFixture(t);
  await dns.register({ name: 'web', address: '10.0.0.1', port: 80 });
  const queries = [1, 2, 3, 4].map((id) =>
    buildQuery(id % 2 === 0 ? 'web.service.konsul' : 'nope.service.konsul', TYPE.A, { id }),
  );
  const replies = await tcpExchange(dns.server.port, queries, { chunkSize: 3 });
  t.same(
    replies.map((reply) => [reply.id, reply.rcode]),
    [
      [1, RCODE.NXDOMAIN],
      [2, RCODE.NOERROR],
      [3, RCODE.NXDOMAIN],
      [4, RCODE.NOERROR],
    ],
  );
});

t.test('an idle TCP connection is closed by the server', async (t) => {
  const dns = await startDnsFixture(t, {}, { tcpIdleTimeoutMs: 100 });
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ port: dns.server.port, host: '127.0.0.1' });
    socket.on('error', reject);
    socket.on('close', () => resolve());
    socket.resume();
  });
  const elapsed = performance.now() - started;
  t.ok(elapsed >= 90 && elapsed < 1500, `closed after ${Math.round(elapsed)} ms`);
});

t.test('the dns2 client resolves through Konsul over UDP and TCP', async (t) => {
  const dns = await startDnsFixture(t);
  for (let host = 1; host <= 40; host++) await dns.register({ name: 'big', address: `10.0.1.${host}`, port: 80 });
  const resolver = new DNS({ nameServers: ['127.0.0.1'], port: dns.server.port });
  // The UDP answer is truncated, so the client retries over TCP by itself and gets all 40.
  const udp = await resolver.resolveA('big.service.konsul');
  t.equal(udp.answers.length, 40);
  const small = await resolver.resolve('0a000001.addr.konsul', 'A');
  t.same(
    small.answers.map((answer) => answer.address),
    ['10.0.0.1'],
  );
  const tcp = await DNS.TCPClient({ dns: '127.0.0.1', port: dns.server.port })('big.service.konsul', 'A');
  t.equal(tcp.answers.length, 40);
  t.ok(tcp.answers.every((answer) => typeof answer.address === 'string' && answer.address.startsWith('10.0.1.')));
});

t.test('every answer is counted by qtype and rcode and timed', async (t) => {
  const dns = await startDnsFixture(t);
  await dns.register({ name: 'web', address: '10.0.0.1', port: 80 });
  await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.A);
  await udpQuery(t, dns.server.port, 'web.service.konsul', TYPE.A);
  await udpQuery(t, dns.server.port, 'nope.service.konsul', TYPE.SRV);
  const text = await dns.registry.metrics();
  t.match(text, /konsul_dns_queries_total\{qtype="A",rcode="NOERROR"\} 2/);
  t.match(text, /konsul_dns_queries_total\{qtype="SRV",rcode="NXDOMAIN"\} 1/);
  t.match(text, /konsul_dns_query_duration_seconds_count 3/);
});

t.test('the server refuses to start with a strategy the manager would refuse', async (t) => {
  await t.rejects(startDnsFixture(t, { lb: 'no-such-strategy' }), { code: 'unknown_strategy' });
});

t.test('close releases the port for UDP and TCP', async (t) => {
  const dns = await startDnsFixture(t);
  const port = dns.server.port;
  await dns.server.close();
  await dns.server.close();
  const again = await startDnsFixture(t, { port });
  t.equal(again.server.port, port);
});

t.test(
  'a small query offering EDNS 4096 gets at most dns.udpAnswerLimit (1232 by default) over UDP, and all of it over TCP',
  async (t) => {
    const dns = await startDnsFixture(t);
    for (let host = 1; host <= 60; host++) await dns.register({ name: 'big', address: `10.0.1.${host}`, port: 80 });
    const query = buildQuery('big.service.konsul', TYPE.SRV, { udpSize: 4096 });
    const udp = await new UdpExchange(t, dns.server.port).query(query);
    t.ok(udp.size <= 1232, `${udp.size}-byte answer to a ${query.length}-byte query`);
    t.ok(udp.tc, 'TC tells the client the rest is over TCP');
    t.ok(udp.answers.length > 0, 'the records that fit lead the answer');
    const [tcp] = await tcpExchange(dns.server.port, [query]);
    t.notOk(tcp.tc);
    t.equal(tcp.answers.length, 60);

    const roomy = await startDnsFixture(t, { udpAnswerLimit: 2048 });
    for (let host = 1; host <= 60; host++) await roomy.register({ name: 'big', address: `10.0.1.${host}`, port: 80 });
    const larger = await new UdpExchange(t, roomy.server.port).query(query);
    t.ok(larger.size > 1232 && larger.size <= 2048, `${larger.size} bytes with the limit raised to 2048`);
  },
);

t.test('dns.allowFrom: other sources get REFUSED and no data over UDP and TCP; listed ones are answered', async (t) => {
  const dns = await startDnsFixture(t, { allowFrom: ['127.0.0.2/32', 'fd00::/8'] });
  await dns.register({ name: 'web', address: '10.0.0.1', port: 80 });
  const query = buildQuery('web.service.konsul', TYPE.A, { id: 77, udpSize: 4096 });

  const refused = await new UdpExchange(t, dns.server.port, '127.0.0.1').query(query);
  t.equal(refused.id, 77);
  t.equal(refused.rcode, RCODE.REFUSED);
  t.notOk(refused.aa, 'not authoritative for a client it does not serve');
  t.same([refused.answers, refused.authority, refused.additional], [[], [], []]);
  t.same(refused.question, { name: 'web.service.konsul', type: TYPE.A, class: 1 });
  t.ok(refused.size <= query.length, `the refusal (${refused.size} bytes) is no bigger than the query`);
  const [refusedTcp] = await tcpExchange(dns.server.port, [query], { localAddress: '127.0.0.1' });
  t.equal(refusedTcp.rcode, RCODE.REFUSED);
  t.same(refusedTcp.answers, []);

  const allowed = await new UdpExchange(t, dns.server.port, '127.0.0.2').query(query);
  t.equal(allowed.rcode, RCODE.NOERROR);
  t.same(
    allowed.answers.map((record) => record.address),
    ['10.0.0.1'],
  );
  const [allowedTcp] = await tcpExchange(dns.server.port, [query], { localAddress: '127.0.0.2' });
  t.equal(allowedTcp.answers.length, 1);
  const counted = await dns.registry.getSingleMetricAsString('konsul_dns_queries_total');
  t.match(counted, /qtype="A",rcode="REFUSED"} 2/);
});

t.test('start-up warns when HTTP reads need the token but DNS answers anyone', async (t) => {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino(
    { level: 'warn' },
    {
      write: (line: string) => {
        lines.push(JSON.parse(line) as { level: number; msg: string });
      },
    },
  );
  await startDnsFixture(t, {}, { readsProtected: true, logger });
  t.equal(lines.length, 1);
  t.match(lines[0], { level: 40, msg: /auth\.protectReads.*dns\.allowFrom/ });
  lines.length = 0;
  await startDnsFixture(t, { allowFrom: ['10.0.0.0/8'] }, { readsProtected: true, logger });
  await startDnsFixture(t, {}, { readsProtected: false, logger });
  t.same(lines, [], 'no warning with an allowlist, or with reads open over HTTP too');
});

t.test(
  'over TCP a trickled query is cut off at dns.tcp.messageTimeout and one source holds at most maxConnectionsPerSource',
  async (t) => {
    const dns = await startDnsFixture(
      t,
      { tcp: { messageTimeout: '300ms', maxConnectionsPerSource: 4 } },
      { tcpIdleTimeoutMs: 5000 },
    );
    await dns.register({ name: 'web', address: '10.0.0.1', port: 80 });
    const query = buildQuery('web.service.konsul', TYPE.A);
    const framed = Buffer.concat([Buffer.from([0, query.length]), query]);
    const open = (localAddress: string) =>
      new Promise<Socket>((resolve, reject) => {
        const socket = connect({ port: dns.server.port, host: '127.0.0.1', localAddress });
        t.teardown(() => socket.destroy());
        socket.on('error', () => undefined);
        socket.once('error', reject);
        socket.once('connect', () => resolve(socket));
      });
    // Four trickling connections (one byte every 100 ms) fill the source's share...
    const trickles = await Promise.all([1, 2, 3, 4].map(() => open('127.0.0.3')));
    let sent = 0;
    const closed = trickles.map((socket) => new Promise((resolve) => socket.once('close', resolve)));
    const trickle = setInterval(() => {
      for (const socket of trickles) if (!socket.destroyed) socket.write(framed.subarray(sent, sent + 1));
      sent++;
    }, 100);
    t.teardown(() => clearInterval(trickle));
    // ...so a fifth from the same address is turned away, while a query from elsewhere is answered.
    const fifth = await open('127.0.0.3');
    await new Promise((resolve) => fifth.once('close', resolve));
    const [answer] = await tcpExchange(dns.server.port, [query], { localAddress: '127.0.0.4' });
    t.equal(answer.answers.length, 1);
    await Promise.all(closed);
    clearInterval(trickle);
    t.ok(sent < framed.length, `the trickles were closed after ${sent} of ${framed.length} bytes`);
    // The client can see its side close before the server has counted its own.
    let metrics = '';
    for (let tries = 0; tries < 100 && !/reason="message_timeout"} 4/.test(metrics); tries++) {
      metrics = await dns.registry.getSingleMetricAsString('konsul_dns_tcp_closed_total');
      await new Promise((next) => setTimeout(next, 10));
    }
    t.match(metrics, /reason="message_timeout"} 4/);
    t.match(metrics, /reason="source_limit"} 1/);
    // The slots are free again: the same source is answered.
    const [again] = await tcpExchange(dns.server.port, [query], { localAddress: '127.0.0.3' });
    t.equal(again.answers.length, 1);
  },
);

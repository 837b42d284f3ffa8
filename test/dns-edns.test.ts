import t from 'tap';
import { ADVERTISED_UDP_SIZE, encodeOpt, readOpt, udpLimit, type Edns } from '../src/dns/edns.js';

function opt(udpSize: number, options: Buffer = Buffer.alloc(0), ttl = 0): Buffer {
  const out = Buffer.alloc(11 + options.length);
  out.writeUInt16BE(41, 1);
  out.writeUInt16BE(udpSize, 3);
  out.writeUInt32BE(ttl, 5);
  out.writeUInt16BE(options.length, 9);
  options.copy(out, 11);
  return out;
}

function ecs(family: number, source: number, scope: number, address: number[]): Buffer {
  const out = Buffer.alloc(8 + address.length);
  out.writeUInt16BE(8, 0);
  out.writeUInt16BE(4 + address.length, 2);
  out.writeUInt16BE(family, 4);
  out[6] = source;
  out[7] = scope;
  Buffer.from(address).copy(out, 8);
  return out;
}

const read = (record: Buffer) => readOpt(record, 0, record.length);

t.test('an OPT record gives the payload size, version and DO bit', async (t) => {
  t.same(read(opt(4096, Buffer.alloc(0), (1 << 16) | 0x8000)), {
    udpSize: 4096,
    version: 1,
    dnssecOk: true,
    clientSubnet: undefined,
  });
});

t.test('a Client Subnet option gives the subnet address, and prefix 0 gives none (RFC 7871 §7.1.2)', async (t) => {
  const v4 = read(opt(1232, ecs(1, 20, 0, [192, 0, 16])));
  t.same((v4 as Edns).clientSubnet?.address, '192.0.16.0');
  t.equal((v4 as Edns).clientSubnet?.sourcePrefix, 20);
  const v6 = read(opt(1232, ecs(2, 48, 0, [0x20, 0x01, 0x0d, 0xb8, 0, 1])));
  t.equal((v6 as Edns).clientSubnet?.address, '2001:db8:1:0:0:0:0:0');
  const optOut = read(opt(1232, ecs(1, 0, 0, [])));
  t.equal((optOut as Edns).clientSubnet?.address, undefined);
  t.equal((optOut as Edns).clientSubnet?.family, 1);
});

t.test('unknown options are skipped (RFC 6891 §6.1.2)', async (t) => {
  const cookie = Buffer.from([0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
  t.same(read(opt(1232, cookie)), { udpSize: 1232, version: 0, dnssecOk: false, clientSubnet: undefined });
});

t.test('an inconsistent Client Subnet is refused (RFC 7871 §6, §7.1.1)', async (t) => {
  t.equal(read(opt(1232, ecs(3, 8, 0, [1]))), 'ecs', 'unknown family');
  t.equal(read(opt(1232, ecs(1, 33, 0, [1, 2, 3, 4, 5]))), 'ecs', 'prefix longer than the family');
  t.equal(read(opt(1232, ecs(1, 24, 8, [1, 2, 3]))), 'ecs', 'scope set in a query');
  t.equal(read(opt(1232, ecs(1, 24, 0, [1, 2]))), 'ecs', 'too few address octets');
  t.equal(read(opt(1232, ecs(1, 20, 0, [1, 2, 0x1f]))), 'ecs', 'bits set past the prefix');
  t.equal(read(opt(1232, Buffer.concat([ecs(1, 8, 0, [1]), ecs(1, 8, 0, [1])]))), 'ecs', 'two Client Subnet options');
});

t.test('a malformed OPT is refused', async (t) => {
  const record = opt(1232);
  t.equal(readOpt(record, 0, record.length - 1), 'opt', 'cut short');
  const named = Buffer.from(record);
  named[0] = 1;
  t.equal(read(named), 'opt', 'owner is not the root');
  const overlong = opt(1232, Buffer.from([0, 10, 0, 9, 1]));
  t.equal(read(overlong), 'opt', 'option runs past RDATA');
  const stub = opt(1232, Buffer.from([0, 10, 0]));
  t.equal(read(stub), 'opt', 'option header cut short');
});

t.test('the UDP limit is 512 without EDNS and the offer clamped to 512..4096 with it', async (t) => {
  const edns = (udpSize: number): Edns => ({ udpSize, version: 0, dnssecOk: false, clientSubnet: undefined });
  // With dns.udpAnswerLimit at its highest, 4096, only the protocol bounds apply.
  t.equal(udpLimit(null, 4096), 512);
  t.equal(udpLimit(edns(0), 4096), 512);
  t.equal(udpLimit(edns(1232), 4096), 1232);
  t.equal(udpLimit(edns(4096), 4096), 4096);
  t.equal(udpLimit(edns(65535), 4096), 4096);
});

t.test('dns.udpAnswerLimit caps the offer, and never lowers an answer below 512', async (t) => {
  const edns = (udpSize: number): Edns => ({ udpSize, version: 0, dnssecOk: false, clientSubnet: undefined });
  t.equal(udpLimit(edns(4096), 1232), 1232, 'a 4096 offer gets the DNS Flag Day 2020 size');
  t.equal(udpLimit(edns(65535), 1232), 1232);
  t.equal(udpLimit(edns(1000), 1232), 1000, 'a smaller offer is honoured');
  t.equal(udpLimit(edns(100), 1232), 512);
  t.equal(udpLimit(null, 1232), 512);
  t.equal(udpLimit(edns(4096), 512), 512);
});

t.test(
  'the response OPT carries our size, the extended RCODE, the DO bit and the echoed subnet with its scope',
  async (t) => {
    const query = read(opt(4096, ecs(1, 24, 0, [198, 51, 100]), 0x8000)) as Edns;
    const record = encodeOpt(query, 16, 24);
    t.equal(record.readUInt16BE(1), 41);
    t.equal(record.readUInt16BE(3), ADVERTISED_UDP_SIZE);
    t.equal(record[5], 1, 'BADVERS: upper bits of RCODE 16');
    t.equal(record[6], 0, 'version 0');
    t.equal(record.readUInt16BE(7), 0x8000, 'DO copied');
    t.same([...record.subarray(11)], [0, 8, 0, 7, 0, 1, 24, 24, 198, 51, 100]);
    const plain = encodeOpt({ udpSize: 512, version: 0, dnssecOk: false, clientSubnet: undefined }, 0, 0);
    t.equal(plain.length, 11);
    t.equal(plain.readUInt16BE(9), 0);
  },
);

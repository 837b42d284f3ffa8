import t from 'tap';
import { addressLabel, addressOctets, formatOctets, parseAddressLabel } from '../src/dns/address.js';

t.test('IPv4 and IPv6 addresses become their octets; hostnames do not', async (t) => {
  t.same([...addressOctets('10.0.0.1')!], [10, 0, 0, 1]);
  t.same([...addressOctets('2001:db8::1')!], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  t.same([...addressOctets('::')!], new Array(16).fill(0));
  t.same([...addressOctets('fe80::1:2%eth0')!], [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
  t.same([...addressOctets('::ffff:192.0.2.1')!], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
  t.same([...addressOctets('1:2:3:4:5:6:7:8')!], [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
  t.same([...addressOctets('1::')!], [0, 1, ...new Array<number>(14).fill(0)]);
  t.equal(addressOctets('db.example.com'), undefined);
});

t.test('octets format back to text every parser accepts', async (t) => {
  t.equal(formatOctets(Buffer.from([192, 0, 2, 1])), '192.0.2.1');
  t.equal(formatOctets(addressOctets('2001:db8::1')!), '2001:db8:0:0:0:0:0:1');
});

t.test('address labels are the octets in hex and parse back', async (t) => {
  const v4 = addressOctets('10.0.0.1')!;
  t.equal(addressLabel(v4), '0a000001');
  t.same(parseAddressLabel('0a000001'), v4);
  t.equal(parseAddressLabel('20010db8000000000000000000000001')?.length, 16);
  t.equal(parseAddressLabel('0a0000010'), undefined);
  t.equal(parseAddressLabel('0A000001'), undefined, 'labels arrive lower-cased; anything else is not ours');
  t.equal(parseAddressLabel('zz000001'), undefined);
});

import t from 'tap';
import { addressRecord, cnameRecord, QUESTION_NAME, soaRecord, srvRecord } from '../src/dns/records.js';
import { encodeName } from '../src/dns/wire.js';
import { buildQuery, decodeMessage, TYPE } from './helpers/dns-client.js';

/** A response holding `query`'s question and `records` as answers, decoded strictly. */
function decodeAnswers(records: Buffer[]) {
  const query = buildQuery('web.service.konsul', TYPE.ANY);
  const message = Buffer.concat([query, ...records]);
  message.writeUInt16BE(0x8400, 2);
  message.writeUInt16BE(records.length, 6);
  return decodeMessage(message).answers;
}

t.test('records owned by the question pointer decode under the question name', async (t) => {
  const [a, aaaa, cname] = decodeAnswers([
    addressRecord(QUESTION_NAME, 60, Buffer.from([10, 0, 0, 1])),
    addressRecord(QUESTION_NAME, 60, Buffer.from('20010db8000000000000000000000001', 'hex')),
    cnameRecord(QUESTION_NAME, 60, 'db.example.com'),
  ]);
  t.same([a.name, a.type, a.ttl, a.address], ['web.service.konsul', TYPE.A, 60, '10.0.0.1']);
  t.same([aaaa.type, aaaa.address], [TYPE.AAAA, '2001:db8:0:0:0:0:0:1']);
  t.same([cname.type, cname.target], [TYPE.CNAME, 'db.example.com']);
});

t.test('SRV carries priority, weight (clamped to 16 bits), port and an uncompressed target', async (t) => {
  const [heavy, light] = decodeAnswers([
    srvRecord(QUESTION_NAME, 0, 1, 100000, 8080, '0a000001.addr.konsul'),
    srvRecord(QUESTION_NAME, 0, 1, -3, 53, 'x.konsul'),
  ]);
  t.same([heavy.priority, heavy.weight, heavy.port, heavy.target], [1, 65535, 8080, '0a000001.addr.konsul']);
  t.equal(light.weight, 0);
});

t.test('SOA carries its names and timers, the serial modulo 2^32', async (t) => {
  const [soa] = decodeAnswers([
    soaRecord(encodeName('konsul'), 0, {
      mname: 'ns.konsul',
      rname: 'hostmaster.konsul',
      serial: 2 ** 32 + 5,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: 7,
    }),
  ]);
  t.same(soa.soa, { mname: 'ns.konsul', rname: 'hostmaster.konsul', serial: 5, minimum: 7 });
  t.equal(soa.name, 'konsul');
});

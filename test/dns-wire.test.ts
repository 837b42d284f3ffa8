import t from 'tap';
import { decodeLabels, encodeName, nameKey, qtypeLabel, rcodeLabel } from '../src/dns/wire.js';

t.test('names encode to length-prefixed labels ending in the root', async (t) => {
  t.same([...encodeName('ns.konsul')], [2, 0x6e, 0x73, 6, 0x6b, 0x6f, 0x6e, 0x73, 0x75, 0x6c, 0]);
  t.same([...encodeName('ns.konsul.')], [...encodeName('ns.konsul')], 'a trailing dot changes nothing');
  t.same([...encodeName('')], [0], 'the root');
});

t.test('names that DNS cannot carry are refused at encoding', async (t) => {
  t.throws(() => encodeName(`${'x'.repeat(64)}.konsul`), RangeError);
  t.throws(() => encodeName('a..b'), RangeError);
  t.throws(() => encodeName(Array.from({ length: 5 }, () => 'x'.repeat(60)).join('.')), RangeError);
});

t.test('labels decode lower-cased in ASCII only', async (t) => {
  const wire = Buffer.concat([encodeName('WeB.Service.KONSUL'), Buffer.from([0, 1, 0, 1])]);
  t.same(decodeLabels(wire, 0, wire.length - 4), ['web', 'service', 'konsul']);
  const latin = Buffer.from([2, 0xc0, 0x41, 0]);
  t.same(decodeLabels(latin, 0, latin.length), ['\u00c0a'], 'Latin-1 letters keep their case');
});

t.test('the name key is the same for every spelling of a name and differs between names', async (t) => {
  const key = (name: string) => {
    const wire = encodeName(name);
    return nameKey(wire, 0, wire.length);
  };
  t.equal(key('WEB.service.Konsul'), key('web.service.konsul'));
  t.not(key('web.service.konsul'), key('web.services.konsul'));
  t.not(key('ab.c'), key('a.bc'), 'label boundaries are part of the key');
});

t.test('metric labels name known qtypes and rcodes and lump the rest', async (t) => {
  t.equal(qtypeLabel(33), 'SRV');
  t.equal(qtypeLabel(65280), 'other');
  t.equal(rcodeLabel(3), 'NXDOMAIN');
  t.equal(rcodeLabel(16), 'BADVERS');
});

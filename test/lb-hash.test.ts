import t from 'tap';
import { fnv1a64Words, hash53, hash53WithSuffix, hash53WithSuffixes, hash64, prefixState } from '../src/lb/hash.js';

const MASK = (1n << 64n) - 1n;

function referenceFnv(text: string, seed = 0): bigint {
  let hash = 0xcbf29ce484222325n ^ BigInt(seed >>> 0);
  for (const byte of Buffer.from(text, 'utf8')) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & MASK;
  return hash;
}

function referenceFmix(k: bigint): bigint {
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & MASK;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & MASK;
  return k ^ (k >> 33n);
}

const words = ([hi, lo]: [number, number]): bigint => (BigInt(hi) << 32n) | BigInt(lo);
const SAMPLES = [
  '',
  'a',
  'foobar',
  'web-01_0',
  'session-12345',
  '10.0.0.1',
  '2001:db8::1',
  'héllo',
  '日本語',
  '😀 emoji',
  'x'.repeat(257),
];

t.test('FNV-1a 64 matches the published test vectors', async (t) => {
  t.equal(words(fnv1a64Words('')), 0xcbf29ce484222325n);
  t.equal(words(fnv1a64Words('a')), 0xaf63dc4c8601ec8cn);
  t.equal(words(fnv1a64Words('foobar')), 0x85944171f73967e8n);
});

t.test('the 64-bit hash equals FNV-1a of the UTF-8 bytes followed by fmix64, for every seed', async (t) => {
  for (const sample of SAMPLES) {
    for (const seed of [0, 1, 0xdeadbeef]) {
      t.equal(
        words(fnv1a64Words(sample, seed)),
        referenceFnv(sample, seed),
        `fnv ${JSON.stringify(sample)} seed ${seed}`,
      );
      t.equal(
        words(hash64(sample, seed)),
        referenceFmix(referenceFnv(sample, seed)),
        `mixed ${JSON.stringify(sample)} seed ${seed}`,
      );
    }
  }
});

t.test('hash53 is the top 53 bits of the 64-bit hash', async (t) => {
  for (const sample of SAMPLES) {
    const expected = Number(referenceFmix(referenceFnv(sample)) >> 11n);
    t.equal(hash53(sample), expected, JSON.stringify(sample));
    t.ok(Number.isSafeInteger(hash53(sample)));
  }
});

t.test('hashing a prefix once and then numeric suffixes equals hashing the whole string', async (t) => {
  for (const id of ['web-1', 'é', '']) {
    const prefix = prefixState(`${id}_`);
    for (const suffix of [0, 1, 9, 10, 99, 100, 12345])
      t.equal(hash53WithSuffix(prefix, suffix), hash53(`${id}_${suffix}`), `${id}_${suffix}`);
  }
});

t.test('hashing a run of suffixes into an array equals hashing each one', async (t) => {
  const prefix = prefixState('web-1_');
  const into = new Float64Array(130).fill(-1);
  hash53WithSuffixes(prefix, 95, 120, into, 7);
  t.same([...into.subarray(0, 7)], new Array(7).fill(-1), 'nothing written before `at`');
  for (let k = 0; k < 120; k++) t.equal(into[7 + k], hash53(`web-1_${95 + k}`), `web-1_${95 + k}`);
  t.same([...into.subarray(127)], [-1, -1, -1], 'nothing written past `count`');
});

t.test('different seeds give unrelated hashes of the same key', async (t) => {
  let equalLowBits = 0;
  for (let i = 0; i < 1000; i++) if ((hash53(`k${i}`, 0) & 0xff) === (hash53(`k${i}`, 1) & 0xff)) equalLowBits++;
  // Independent hashes agree on 8 bits with probability 1/256: about 4 of 1000.
  t.ok(equalLowBits < 15, `low bytes agreed ${equalLowBits} times`);
});

t.test('the hash spreads sequential keys evenly over buckets', async (t) => {
  const buckets = new Array<number>(16).fill(0);
  for (let i = 0; i < 16000; i++) buckets[hash53(`web-${i}_0`) % 16]++;
  // Chi-square with 15 degrees of freedom; 30.58 is the critical value at p = 0.01.
  const statistic = buckets.reduce((sum, count) => sum + (count - 1000) ** 2 / 1000, 0);
  t.ok(statistic < 30.58, `chi-square ${statistic.toFixed(2)}`);
});

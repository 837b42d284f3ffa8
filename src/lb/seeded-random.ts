/**
 * A small seeded PRNG so tests, benchmarks and reproducible runs can pass
 * `random` to the manager. sfc32 (Chris Doty-Humphrey, PractRand) passes
 * PractRand/BigCrush and costs a few integer ops; the seed is spread into its
 * four words with splitmix32 so nearby seeds give unrelated streams.
 * The state lives in a Uint32Array: 32-bit values kept in closure variables would be
 * boxed as heap numbers on every write (V8 Smis hold 31 bits), costing ~10x.
 */
export function createSeededRandom(seed: number): () => number {
  const state = new Uint32Array(4);
  let mix = seed >>> 0;
  for (let i = 0; i < 4; i++) {
    mix = (mix + 0x9e3779b9) >>> 0;
    let z = mix;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    state[i] = z ^ (z >>> 16);
  }
  return () => {
    const a = state[0];
    const b = state[1];
    const c = state[2];
    const d = state[3];
    const t = (a + b + d) >>> 0;
    state[3] = d + 1;
    state[0] = b ^ (b >>> 9);
    state[1] = c + (c << 3);
    state[2] = ((c << 21) | (c >>> 11)) + t;
    return t / 4294967296;
  };
}

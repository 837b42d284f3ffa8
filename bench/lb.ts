/**
 * Load-balancing benchmark: ns per StrategyManager.order() call for every built-in
 * strategy at 10, 100 and 1,000 instances, with limit=3 and with the full order,
 * against a baseline measured in the same run (copying the instance array with
 * slice(), the least any answer costs). Rings and Maglev tables are cached, as in
 * production; their build times are printed separately.
 *
 *   npx tsx bench/lb.ts            (npm run bench:lb)
 */
import type { Instance } from '../src/catalog/types.js';
import { loadConfig } from '../src/config/load.js';
import { buildMaglevTable } from '../src/lb/maglev-table.js';
import { createStrategyManager } from '../src/lb/manager.js';
import { createSeededRandom } from '../src/lb/seeded-random.js';
import { buildRing } from '../src/lb/ring.js';
import type { Candidates, LbConfig, OrderOptions } from '../src/lb/types.js';
import { effectiveWeights } from '../src/lb/weights.js';

const SIZES = [10, 100, 1000];
const LIMITS = [3, 0];
const TARGET_MS = 150;
const WARMUP_ITERATIONS = 20_000;
const KEYS = 1024;

const config: LbConfig = {
  ...loadConfig({ env: {} }).lb,
  latency: { 'eu-west': { 'eu-west': 1, 'eu-central': 12, 'us-east': 80 } },
};
const REGIONS = ['eu-west', 'eu-central', 'us-east', 'ap-south'];

function makeInstances(count: number): Instance[] {
  const width = String(count - 1).length;
  return Array.from({ length: count }, (_, i) => ({
    id: `web-${String(i).padStart(width, '0')}`,
    name: 'web',
    address: `10.0.${i >> 8}.${i & 255}`,
    port: 8080,
    tags: [],
    meta: {},
    weight: 1 + (i % 4),
    region: REGIONS[i % REGIONS.length],
    zone: null,
    status: 'passing' as const,
    checks: [],
    createIndex: 1,
    modifyIndex: 1,
  }));
}

let sink = 0;

/** Runs `body` until TARGET_MS has passed (in batches), after a warm-up; returns ns per call. */
function measure(body: (i: number) => number): number {
  for (let i = 0; i < WARMUP_ITERATIONS; i++) sink += body(i);
  let iterations = 0;
  let batch = 1000;
  const started = process.hrtime.bigint();
  let elapsed = 0n;
  const budget = BigInt(TARGET_MS) * 1_000_000n;
  while (elapsed < budget) {
    for (let i = 0; i < batch; i++) sink += body(iterations + i);
    iterations += batch;
    batch = Math.min(batch * 2, 1_000_000);
    elapsed = process.hrtime.bigint() - started;
  }
  return Number(elapsed) / iterations;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

function format(ns: number): string {
  return ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`;
}

const manager = createStrategyManager(config, { random: createSeededRandom(42) });
const sessionKeys = Array.from({ length: KEYS }, (_, i) => `session-${i * 7919}`);
const clientIps = Array.from({ length: KEYS }, (_, i) => `192.168.${(i >> 8) & 255}.${i & 255}`);

console.log(`Node ${process.version}, ${process.platform}/${process.arch}\n`);
console.log('| strategy | instances | limit | ns/query | × baseline |');
console.log('|---|---:|---:|---:|---:|');
for (const size of SIZES) {
  const instances = makeInstances(size);
  const candidates: Candidates = { key: `web@${size}`, service: 'web', instances };
  for (const instance of instances) {
    manager.reportLoad(
      instance.id,
      {
        connections: (instance.id.charCodeAt(instance.id.length - 1) * 7) % 13,
        latencyMs: 5 + (instance.id.length % 3),
      },
      'web',
    );
  }
  // Rings and Maglev tables build in slices between event-loop turns: let them finish, so
  // the figures below are for queries on built tables (build cost is measured further down).
  for (const strategy of manager.names())
    manager.order(candidates, { strategy, sessionKey: 'warm-up', clientIp: '192.0.2.1', clientRegion: 'eu-west' });
  await manager.tablesBuilt();
  const baseline = measure(() => instances.slice().length);
  console.log(`| baseline: instances.slice() | ${size} | all | ${format(baseline)} | 1.0 |`);
  for (const strategy of manager.names()) {
    for (const limit of LIMITS) {
      const options: OrderOptions[] = Array.from({ length: KEYS }, (_, i) => ({
        strategy,
        limit,
        sessionKey: sessionKeys[i],
        clientIp: clientIps[i],
        clientRegion: 'eu-west',
      }));
      const ns = measure((i) => manager.order(candidates, options[i & (KEYS - 1)]).instances.length);
      console.log(
        `| ${strategy} | ${size} | ${limit === 0 ? 'all' : limit} | ${format(ns)} | ${(ns / baseline).toFixed(1)} |`,
      );
    }
  }
}

console.log('\n| structure | instances | points/slots | build (median of runs) |');
console.log('|---|---:|---:|---:|');
for (const size of SIZES) {
  const instances = makeInstances(size).map((instance) => ({ ...instance, weight: 1 }));
  const weights = effectiveWeights(instances).values;
  const ringTimes: number[] = [];
  let points = 0;
  for (let run = 0; run < 7; run++) {
    const started = process.hrtime.bigint();
    points = buildRing(
      instances,
      weights,
      config.ringHash.pointsPerWeight,
      config.ringHash.minRingSize,
      config.ringHash.maxRingSize,
    ).points.length;
    ringTimes.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  console.log(`| ring (weight 1 each) | ${size} | ${points} | ${median(ringTimes).toFixed(2)} ms |`);
  const maglevTimes: number[] = [];
  for (let run = 0; run < 7; run++) {
    const started = process.hrtime.bigint();
    sink += buildMaglevTable(instances, weights, config.maglev.tableSize).owners.length;
    maglevTimes.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  console.log(`| maglev table | ${size} | ${config.maglev.tableSize} | ${median(maglevTimes).toFixed(2)} ms |`);
}
if (sink === 42) console.log('');

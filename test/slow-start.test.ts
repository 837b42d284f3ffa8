import t from 'tap';
import { createStrategyManager } from '../src/lb/manager.js';
import { createSeededRandom } from '../src/lb/seeded-random.js';
import { rampFactor } from '../src/lb/slow-start.js';
import { candidates, instances, instance, lbConfig } from './helpers/lb-fixtures.js';
import { buildQuery, TYPE, UdpExchange } from './helpers/dns-client.js';
import { json, startTestKonsul, type TestKonsul } from './helpers/konsul.js';

const SEED = 5;
const WINDOW_MS = 60_000;

/** A clock the test moves by hand: ramps advance only when it says so. */
function manualClock() {
  let now = Date.UTC(2026, 0, 1);
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

/**
 * The new instance's expected share of first positions among 4 settled equal ones plus itself,
 * `fraction` into a linear ramp with a 10 % floor: f / (4 + f).
 */
function expectedShare(fraction: number): number {
  const factor = Math.max(0.1, fraction);
  return (factor / (4 + factor)) * 100;
}

t.test('the ramp factor starts at the floor, follows (elapsed/window)^(1/aggression) and ends at 1', async (t) => {
  const linear = { windowMs: 100, aggression: 1, minWeightPercent: 10 };
  t.equal(rampFactor(0, linear), 0.1, 'the floor at the start');
  t.equal(rampFactor(5, linear), 0.1, 'the floor while the ramp is below it');
  t.equal(rampFactor(50, linear), 0.5);
  t.equal(rampFactor(100, linear), 1);
  t.equal(rampFactor(1e9, linear), 1);
  t.equal(rampFactor(25, { ...linear, aggression: 2 }), 0.5, 'aggression 2 ramps as a square root: faster early');
  t.equal(rampFactor(0, { ...linear, windowMs: 0 }), 1, 'a window of 0 turns slow start off');
});

for (const strategy of ['weighted-random', 'weighted-round-robin', 'p2c']) {
  t.test(`${strategy}: a joining instance's share of first positions ramps over the window`, async (t) => {
    const clock = manualClock();
    const manager = createStrategyManager(
      lbConfig({
        enabled: [strategy],
        default: strategy,
        slowStart: { window: '60s', aggression: 1, minWeightPercent: 10 },
      }),
      { random: createSeededRandom(SEED), now: clock.now },
    );
    t.teardown(() => manager.close());
    const settled = instances(4);
    manager.order(candidates(settled));
    clock.advance(2 * WINDOW_MS);
    const joined = [...settled, instance({ id: 'web-9' })];
    const list = candidates(joined);
    // Equal loads: p2c then chooses by weight alone (the others ignore loads).
    for (const member of joined) manager.reportLoad(member.id, { connections: 10 }, 'web');
    const queries = 10_000;
    let builds = -1;
    for (const fraction of [0, 0.25, 0.5, 1]) {
      const started = clock.now();
      let first = 0;
      for (let i = 0; i < queries; i++) {
        // Spread the queries over a 1 % slice of the window, as real traffic would be.
        clock.advance((i === 0 ? 0 : WINDOW_MS * 0.01) / queries);
        if (manager.order(list, { limit: 1 }).instances[0].id === 'web-9') first++;
      }
      const share = (first / queries) * 100;
      // p2c compares connections/weight: with equal loads a ramping instance loses every comparison
      // it is drawn into, so its share is a step (0 %, then a fair 20 %) rather than a proportion.
      if (strategy === 'p2c') {
        if (fraction < 1) t.ok(share < 1, `p2c gives web-9 ${share.toFixed(1)} % at ${fraction * 100} % (< 1 %)`);
        else t.ok(Math.abs(share - 20) <= 1.5, `p2c gives web-9 ${share.toFixed(1)} % once ramped (20 % ± 1.5)`);
      } else {
        const expected = expectedShare(fraction);
        t.ok(
          Math.abs(share - expected) <= 1.5,
          `web-9 has ${share.toFixed(1)} % of first positions at ${fraction * 100} % of the window (expected ${expected.toFixed(1)} ± 1.5, seed ${SEED})`,
        );
      }
      if (builds < 0) builds = manager.cacheStats().builds;
      clock.advance(started + WINDOW_MS * 0.25 - clock.now());
      if (fraction === 0.5) {
        t.equal(manager.cacheStats().builds, builds, 'mid-ramp, answers rebuild nothing cached');
        clock.advance(WINDOW_MS * 0.25);
      }
    }
  });
}

t.test('hash strategies ignore slow start: stickiness wins', async (t) => {
  const clock = manualClock();
  const manager = createStrategyManager(
    lbConfig({ slowStart: { window: '60s', aggression: 1, minWeightPercent: 10 } }),
    { random: createSeededRandom(SEED), now: clock.now },
  );
  t.teardown(() => manager.close());
  const list = candidates(instances(5));
  const before = manager.order(list, { strategy: 'ring-hash', sessionKey: 'user-1' }).instances.map((i) => i.id);
  await manager.tablesBuilt();
  clock.advance(30_000);
  const during = manager.order(list, { strategy: 'ring-hash', sessionKey: 'user-1' }).instances.map((i) => i.id);
  t.same(during, before, 'the same order mid-ramp as at its start');
});

async function register(server: TestKonsul, id: string, n: number, checks: unknown[] = []): Promise<void> {
  const response = await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { id, name: 'web', address: `10.0.0.${n}`, port: 8080, checks },
  });
  if (response.statusCode !== 200) throw new Error(response.body);
}

async function httpShare(server: TestKonsul, id: string, queries: number): Promise<number> {
  let first = 0;
  for (let i = 0; i < queries; i++) {
    const answer = json<{ id: string }[]>(await server.app.inject({ url: '/catalog/services/web?limit=1' }));
    if (answer[0].id === id) first++;
  }
  return (first / queries) * 100;
}

async function dnsShare(server: TestKonsul, address: string, queries: number): Promise<number> {
  const exchange = new UdpExchange(t, server.dns!.port);
  let first = 0;
  for (let i = 0; i < queries; i++) {
    const reply = await exchange.query(buildQuery('web.service.konsul', TYPE.A, { id: i & 0xffff }));
    if (reply.answers[0]?.address === address) first++;
  }
  return (first / queries) * 100;
}

t.test(
  'over HTTP and DNS: a service policy ramps a new instance, and ramps it again when it turns passing',
  async (t) => {
    const clock = manualClock();
    // Globally off: the policy key turns it on for web alone.
    const server = await startTestKonsul(
      t,
      { dns: { enabled: true }, lb: { default: 'weighted-random' } },
      { now: clock.now, random: createSeededRandom(SEED) },
    );
    for (let n = 1; n <= 4; n++) await register(server, `web-${n}`, n);
    const policy = await server.app.inject({
      method: 'PUT',
      url: '/catalog/services/web/config',
      payload: { lb: 'weighted-random', slowStart: '60s' },
    });
    t.equal(policy.statusCode, 200, policy.body);
    const stored = json<{ config: Record<string, unknown> }>(
      await server.app.inject({ url: '/catalog/services/web/config' }),
    );
    t.equal(stored.config.slowStart, '60s', 'the policy reads back');
    await httpShare(server, 'web-1', 1);
    clock.advance(2 * WINDOW_MS);
    await register(server, 'web-5', 5, [{ id: 'web-5-ttl', type: 'ttl', ttl: '1h', status: 'passing' }]);

    const queries = 2000;
    const joinedAt = clock.now();
    for (const fraction of [0, 0.25, 0.5, 1]) {
      clock.advance(joinedAt + fraction * WINDOW_MS - clock.now());
      const expected = expectedShare(fraction);
      const http = await httpShare(server, 'web-5', queries);
      t.ok(
        Math.abs(http - expected) <= 3,
        `HTTP: web-5 first in ${http.toFixed(1)} % at ${fraction * 100} % of the window (expected ${expected.toFixed(1)} ± 3)`,
      );
      const dns = await dnsShare(server, '10.0.0.5', queries);
      t.ok(
        Math.abs(dns - expected) <= 3,
        `DNS: 10.0.0.5 first in ${dns.toFixed(1)} % at ${fraction * 100} % of the window (expected ${expected.toFixed(1)} ± 3)`,
      );
    }

    // Critical, then passing again: the ramp starts over from the moment it turned passing.
    const failed = await server.app.inject({ method: 'PUT', url: '/health/check/web-5-ttl/fail' });
    t.equal(failed.statusCode, 200, failed.body);
    t.equal(await httpShare(server, 'web-5', 200), 0, 'a critical instance is not answered');
    clock.advance(5 * WINDOW_MS);
    const passed = await server.app.inject({ method: 'PUT', url: '/health/check/web-5-ttl/pass' });
    t.equal(passed.statusCode, 200, passed.body);
    const returned = await httpShare(server, 'web-5', queries);
    t.ok(
      Math.abs(returned - expectedShare(0)) <= 3,
      `back to passing, web-5 is first in ${returned.toFixed(1)} % (expected ${expectedShare(0).toFixed(1)} ± 3)`,
    );
    clock.advance(WINDOW_MS);
    const full = await httpShare(server, 'web-5', queries);
    t.ok(Math.abs(full - 20) <= 3, `a window later it is first in ${full.toFixed(1)} % (20 ± 3)`);

    // Without the policy the global default (0s, off) applies: no ramp for a new instance.
    const cleared = await server.app.inject({
      method: 'PUT',
      url: '/catalog/services/web/config',
      payload: { lb: 'weighted-random' },
    });
    t.equal(cleared.statusCode, 200);
    await register(server, 'web-6', 6);
    const unramped = await httpShare(server, 'web-6', queries);
    t.ok(
      Math.abs(unramped - 100 / 6) <= 3,
      `with slow start off web-6 is first in ${unramped.toFixed(1)} % at once (16.7 ± 3)`,
    );
  },
);

t.test('the policy overrides a global window, and a bad window is refused', async (t) => {
  const clock = manualClock();
  const server = await startTestKonsul(
    t,
    { lb: { default: 'weighted-random', slowStart: { window: '60s', aggression: 1, minWeightPercent: 10 } } },
    { now: clock.now, random: createSeededRandom(SEED) },
  );
  for (let n = 1; n <= 4; n++) await register(server, `web-${n}`, n);
  await httpShare(server, 'web-1', 1);
  clock.advance(2 * WINDOW_MS);
  await register(server, 'web-5', 5);
  const global = await httpShare(server, 'web-5', 2000);
  t.ok(Math.abs(global - expectedShare(0)) <= 3, `the global 60s window holds web-5 at ${global.toFixed(1)} %`);
  const bad = await server.app.inject({
    method: 'PUT',
    url: '/catalog/services/web/config',
    payload: { slowStart: 'soon' },
  });
  t.equal(bad.statusCode, 400);
  t.equal(json<{ error: { code: string } }>(bad).error.code, 'invalid_duration');
  const off = await server.app.inject({
    method: 'PUT',
    url: '/catalog/services/web/config',
    payload: { slowStart: '0s' },
  });
  t.equal(off.statusCode, 200);
  const unramped = await httpShare(server, 'web-5', 2000);
  t.ok(Math.abs(unramped - 20) <= 3, `the policy's 0s turns the ramp off for web: ${unramped.toFixed(1)} % (20 ± 3)`);
});

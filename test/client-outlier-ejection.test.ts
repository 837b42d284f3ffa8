import t from 'tap';
import type { Instance } from '../src/catalog/types.js';
import { InstanceState } from '../src/client/instance-state.js';
import { resolveBalancerOptions, type OutlierOptions } from '../src/client/options.js';
import { OutlierEjection } from '../src/client/outlier-ejection.js';

const T0 = Date.UTC(2026, 0, 1);

function instance(id: string): Instance {
  return {
    id,
    name: 'payments',
    address: '127.0.0.1',
    port: 8080,
    tags: [],
    meta: {},
    weight: 1,
    region: null,
    zone: null,
    status: 'passing',
    checks: [],
    createIndex: 0,
    modifyIndex: 0,
  };
}

/** Ten instances (so the 50% cap never stands in the way) and the ejection the options resolve to. */
function setup(outlier: OutlierOptions) {
  const resolved = resolveBalancerOptions('payments', { outlier: { consecutiveFailures: 1, ...outlier } }).outlier!;
  const service = Array.from({ length: 10 }, (_, i) => new InstanceState(instance(`payments-${i}`), undefined, 'http'));
  const ejection = new OutlierEjection(resolved);
  const state = service[0];
  /** Fails the instance at `now`; the length of the ejection it started, in ms. */
  const eject = (now: number): number => {
    t.ok(ejection.failed(state, service, now), `ejected at +${(now - T0) / 1000}s`);
    return state.ejectedUntil - now;
  };
  return { ejection, state, eject };
}

t.test('each ejection lasts one base time longer, up to maxEjectionTime', async (t) => {
  const { state, eject } = setup({ baseEjectionTime: '10s', maxEjectionTime: '25s', interval: '1h' });
  let now = T0;
  t.equal(eject(now), 10_000, 'first: the base time');
  now += 10_000;
  t.equal(eject(now), 20_000, 'second: twice the base time');
  now += 20_000;
  t.equal(eject(now), 25_000, 'third: capped at maxEjectionTime');
  now += 25_000;
  t.equal(eject(now), 25_000, 'fourth: still the cap');
  t.equal(state.ejections, 4, 'every ejection is counted');
  t.equal(state.ejectionMultiplier, 3, 'the multiplier stops at the step that reaches the cap');
});

t.test('the multiplier falls by one each full interval the instance stays in, and never while it is out', async (t) => {
  const { ejection, state, eject } = setup({ baseEjectionTime: '10s', maxEjectionTime: '300s', interval: '60s' });
  let now = T0;
  eject(now);
  now += 10_000;
  eject(now);
  now += 20_000;
  t.equal(eject(now), 30_000, 'third ejection: three base times');
  t.equal(state.ejectionMultiplier, 3);

  // Time spent ejected does not count: at its end the multiplier is still 3.
  ejection.decay(state, now + 29_999);
  t.equal(state.ejectionMultiplier, 3, 'no decay while ejected');
  now += 30_000;
  ejection.decay(state, now + 59_999);
  t.equal(state.ejectionMultiplier, 3, 'no decay before a full interval in');
  ejection.decay(state, now + 60_000);
  t.equal(state.ejectionMultiplier, 2, 'one interval in: one step down');
  ejection.decay(state, now + 60_000);
  t.equal(state.ejectionMultiplier, 2, 'reading twice at one time steps once');
  now += 179_999;
  t.equal(eject(now), 20_000, 'after two steps down (and most of a third) an ejection lasts two base times');
  t.equal(state.ejectionMultiplier, 2);

  now += 20_000;
  ejection.decay(state, now + 10 * 60_000);
  t.equal(state.ejectionMultiplier, 0, 'long enough in: back to no multiplier, not below');
  t.equal(eject(now + 10 * 60_000), 10_000, 'and the next ejection lasts the base time again');
});

t.test('decay from the cap: a capped instance needs only a few intervals to come down', async (t) => {
  const { ejection, state, eject } = setup({ baseEjectionTime: '30s', maxEjectionTime: '60s', interval: '10s' });
  let now = T0;
  for (let i = 0; i < 5; i++) now += eject(now);
  t.equal(state.ejectionMultiplier, 2, 'held at the multiplier that reaches the cap (60s / 30s)');
  ejection.decay(state, now + 10_000);
  t.equal(state.ejectionMultiplier, 1);
  t.equal(eject(now + 10_000), 60_000, 'one step down from the cap still reaches it');
  now += 10_000 + 60_000 + 20_000;
  t.equal(eject(now), 30_000, 'two intervals in from there: the base time');
});

t.test('outlier.interval and maxEjectionTime are checked like every duration option', async (t) => {
  t.throws(() => resolveBalancerOptions('payments', { outlier: { interval: 'soon' } }), { code: 'invalid_option' });
  t.throws(() => resolveBalancerOptions('payments', { outlier: { interval: '0ms' } }), { code: 'invalid_option' });
  t.throws(
    () => resolveBalancerOptions('payments', { outlier: { baseEjectionTime: '30s', maxEjectionTime: '10s' } }),
    { code: 'invalid_option' },
    'a cap below the base time is refused',
  );
  t.equal(resolveBalancerOptions('payments', {}).outlier!.intervalMs, 10_000, 'default 10s, as Envoy');
});

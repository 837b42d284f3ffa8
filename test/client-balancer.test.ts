import t from 'tap';
import {
  answeredBy,
  deregister,
  konsulUrl,
  registerTarget,
  startClient,
  startTargets,
} from './helpers/client-fixtures.js';
import { startHttpTarget } from './helpers/health-targets.js';
import { startTestKonsul } from './helpers/konsul.js';
import { until } from './helpers/wait.js';

t.test(
  'a failing target: calls succeed through retries, it is ejected, and it is used again after it recovers',
  async (t) => {
    const server = await startTestKonsul(t);
    const targets = await startTargets(t, server, 'payments', 3);
    const { konsul, clock } = startClient(t, [konsulUrl(server)]);
    const payments = konsul.balancer('payments', {
      outlier: { consecutiveFailures: 2, baseEjectionTime: '30s', maxEjectionPercent: 50 },
      breaker: false,
    });
    await payments.ready();
    const failing = targets.byId.get('payments-2')!;
    failing.behaviour = { kind: 'status', status: 503, body: 'down' };

    const ejected: string[] = [];
    payments.on('eject', (instance: { id: string }) => ejected.push(instance.id));
    for (let i = 0; i < 12; i++) {
      const response = await payments.fetch('/charge');
      t.equal(response.status, 200, `call ${i} succeeds`);
      t.not(await answeredBy(response), 'payments-2');
    }
    t.same(ejected, ['payments-2'], 'ejected once, after two failures in a row');
    const stats = payments.stats();
    t.ok(stats.retries >= 2, 'the failures were retried on another instance');
    const failingStats = stats.instances.find((instance) => instance.id === 'payments-2')!;
    t.equal(failingStats.ejectedUntil, clock.now() + 30_000, 'ejected for baseEjectionTime');
    t.equal(failingStats.ejections, 1);

    const seenWhileEjected = failing.requests.length;
    for (let i = 0; i < 6; i++) await (await payments.fetch('/charge')).text();
    t.equal(failing.requests.length, seenWhileEjected, 'an ejected instance gets no calls');

    failing.behaviour = { kind: 'status', status: 200, body: 'payments-2' };
    await clock.advance(30_000);
    const answers = new Set<string>();
    for (let i = 0; i < 6; i++) answers.add(await answeredBy(await payments.fetch('/charge')));
    t.ok(answers.has('payments-2'), 'back in the rotation once its ejection time is over');
    t.equal(payments.stats().instances.find((instance) => instance.id === 'payments-2')!.ejectedUntil, null);
  },
);

t.test('a second ejection lasts longer, and no more than maxEjectionPercent of the service is ejected', async (t) => {
  const server = await startTestKonsul(t);
  const targets = await startTargets(t, server, 'payments', 2);
  const { konsul, clock } = startClient(t, [konsulUrl(server)]);
  const payments = konsul.balancer('payments', {
    outlier: { consecutiveFailures: 1, baseEjectionTime: '10s', maxEjectionPercent: 50 },
    breaker: false,
  });
  await payments.ready();
  const first = targets.byId.get('payments-1')!;
  first.behaviour = { kind: 'status', status: 503 };
  const until1 = () => payments.stats().instances.find((instance) => instance.id === 'payments-1')!;
  while (until1().ejections === 0) await (await payments.fetch('/')).text();
  t.equal(until1().ejectedUntil, clock.now() + 10_000, 'first ejection: base time');
  await clock.advance(10_000);
  while (until1().ejections === 1) await (await payments.fetch('/')).text();
  t.equal(until1().ejectedUntil, clock.now() + 20_000, 'second ejection: twice the base time');

  // Both failing: only one of the two may be out at once, so calls still reach an instance.
  targets.byId.get('payments-2')!.behaviour = { kind: 'status', status: 503 };
  for (let i = 0; i < 5; i++) t.equal((await payments.fetch('/')).status, 503, 'the answer of the last attempt');
  const out = payments.stats().instances.filter((instance) => instance.ejectedUntil !== null);
  t.equal(out.length, 1, 'one ejected of two: the 50% cap');
});

t.test('the ejection multiplier decays on the client clock while the instance stays healthy', async (t) => {
  const server = await startTestKonsul(t);
  const targets = await startTargets(t, server, 'payments', 2);
  const { konsul, clock } = startClient(t, [konsulUrl(server)]);
  const payments = konsul.balancer('payments', {
    outlier: { consecutiveFailures: 1, baseEjectionTime: '10s', maxEjectionTime: '30s', interval: '20s' },
    breaker: false,
  });
  await payments.ready();
  const first = targets.byId.get('payments-1')!;
  const stats1 = () => payments.stats().instances.find((instance) => instance.id === 'payments-1')!;
  first.behaviour = { kind: 'status', status: 503 };
  while (stats1().ejections === 0) await (await payments.fetch('/')).text();
  await clock.advance(10_000);
  while (stats1().ejections === 1) await (await payments.fetch('/')).text();
  t.equal(stats1().ejectedUntil, clock.now() + 20_000, 'second ejection: twice the base time');
  t.equal(stats1().ejectionMultiplier, 2);

  first.behaviour = { kind: 'status', status: 200, body: 'payments-1' };
  await clock.advance(20_000 + 20_000);
  t.equal(stats1().ejectionMultiplier, 1, 'one interval healthy after the ejection: one step down');
  for (let i = 0; i < 4; i++) await (await payments.fetch('/')).text();
  await clock.advance(20_000);
  t.equal(stats1().ejectionMultiplier, 0, 'two intervals: none left');

  first.behaviour = { kind: 'status', status: 503 };
  while (stats1().ejections === 2) await (await payments.fetch('/')).text();
  t.equal(stats1().ejectedUntil, clock.now() + 10_000, 'the next ejection lasts the base time again');
  t.equal(stats1().ejections, 3, 'while the total count keeps growing');
});

t.test('the retry budget holds under a full outage', async (t) => {
  const server = await startTestKonsul(t);
  const targets = await startTargets(t, server, 'payments', 3);
  for (const target of targets.byId.values()) target.behaviour = { kind: 'status', status: 503 };
  const { konsul } = startClient(t, [konsulUrl(server)]);
  const payments = konsul.balancer('payments', {
    maxRetries: 2,
    retryBudget: { ratio: 0.2, minPerSecond: 0 },
    outlier: false,
    breaker: false,
  });
  await payments.ready();
  const requests = 100;
  for (let i = 0; i < requests; i++) {
    const response = await payments.fetch('/charge');
    t.equal(response.status, 503);
    await response.text();
  }
  const stats = payments.stats();
  const received = Object.values(targets.counts()).reduce((sum, count) => sum + count, 0);
  t.ok(stats.retries <= requests * 0.2, `retries (${stats.retries}) stay within 20% of ${requests} requests`);
  t.ok(stats.retries >= requests * 0.2 - 1, 'and the budget is used');
  t.ok(stats.budgetExhausted > 0, 'retries beyond the budget were refused');
  t.equal(received, requests + stats.retries, 'the targets saw each request once plus the budgeted retries');
});

t.test('connection errors and timeouts are retried; POST is retried only after a refused connection', async (t) => {
  const server = await startTestKonsul(t);
  const hanging = await startHttpTarget(t, { kind: 'hang' });
  const healthy = await startHttpTarget(t, { kind: 'status', status: 200, body: 'healthy' });
  const closed = await startHttpTarget(t);
  await closed.close();
  await registerTarget(server, 'orders', 'orders-a-closed', closed.port);
  await registerTarget(server, 'orders', 'orders-b-hanging', hanging.port);
  await registerTarget(server, 'orders', 'orders-c-healthy', healthy.port);
  const { konsul, clock } = startClient(t, [konsulUrl(server)]);
  const orders = konsul.balancer('orders', { perTryTimeout: '1s', outlier: false, breaker: false });
  await orders.ready();

  // Round-robin from the first instance: closed (refused), then hanging (timed out by the clock), then healthy.
  const call = orders.fetch('/', { method: 'GET' });
  await hanging.until('the hanging target got the retry', () => hanging.requests.length === 1);
  await clock.advance(1000);
  t.equal(await answeredBy(await call), 'healthy', 'refused, then timed out, then answered');

  // POST: a refused connection goes elsewhere (it never reached an instance), a timeout does not.
  // Round-robin starts the three POSTs at hanging, healthy, then closed (refused, then hanging).
  const posts = Promise.allSettled([0, 1, 2].map(() => orders.fetch('/', { method: 'POST', body: 'x' })));
  await hanging.until('two POSTs reached the hanging target', () => hanging.requests.length === 3);
  await clock.advance(1000);
  const settled = await posts;
  const failed = settled.filter((result) => result.status === 'rejected');
  t.equal(failed.length, 2, 'the POSTs that timed out are not retried');
  for (const result of failed) t.match(result.reason, { code: 'request_failed' });
  const answered = settled.filter((result) => result.status === 'fulfilled');
  t.equal(await answeredBy(answered[0].value), 'healthy');
  const postsAt = (target: { requests: { method: string }[] }) =>
    target.requests.filter((request) => request.method === 'POST').length;
  t.equal(postsAt(hanging) + postsAt(healthy), 3, 'each POST reached exactly one instance');
});

t.test('a new instance is used as soon as it is registered, with no timer firing', async (t) => {
  const server = await startTestKonsul(t);
  await startTargets(t, server, 'payments', 1);
  const { konsul, clock } = startClient(t, [konsulUrl(server)]);
  const payments = konsul.balancer('payments');
  await payments.ready();
  const fresh = await startHttpTarget(t, { kind: 'status', status: 200, body: 'payments-new' });
  const started = clock.now();
  const updated = until(
    'the balancer saw payments-new',
    (wake) => {
      payments.on('update', wake);
      return () => payments.off('update', wake);
    },
    () => payments.instances().some((instance) => instance.id === 'payments-new'),
  );
  await registerTarget(server, 'payments', 'payments-new', fresh.port);
  await updated;
  t.equal(clock.now(), started, 'the blocking query woke on the commit: nothing polled');
  const answers = new Set<string>();
  for (let i = 0; i < 2; i++) answers.add(await answeredBy(await payments.fetch('/')));
  t.ok(answers.has('payments-new'), 'round-robin reaches it within two calls');
});

t.test('sticky sessions stay on one instance, agree with the server, and move only when it leaves', async (t) => {
  const server = await startTestKonsul(t);
  await startTargets(t, server, 'carts', 4);
  const { konsul } = startClient(t, [konsulUrl(server)]);
  const carts = konsul.balancer('carts', { strategy: 'maglev' });
  await carts.ready();
  const keys = Array.from({ length: 24 }, (_, i) => `cart-${i}`);
  const serverPick = async (key: string) => {
    const url = `${konsulUrl(server)}/catalog/services/carts?lb=maglev&session-key=${key}&limit=1`;
    return ((await (await fetch(url)).json()) as { id: string }[])[0].id;
  };
  // The server builds its table in slices after the first query, answering by rendezvous hashing meanwhile.
  await serverPick('warm-up');
  await server.lb.tablesBuilt();
  const home = new Map<string, string>();
  for (const key of keys) {
    const first = await answeredBy(await carts.fetch('/', { sessionKey: key }));
    for (let i = 0; i < 3; i++) t.equal(await answeredBy(await carts.fetch('/', { sessionKey: key })), first);
    home.set(key, first);
    t.equal(await serverPick(key), first, `${key}: the client picks what the server answers`);
  }
  t.ok(new Set(home.values()).size > 1, 'keys spread over instances');

  await deregister(server, 'carts-2');
  await until(
    'carts-2 left the balancer',
    (wake) => {
      carts.on('update', wake);
      return () => carts.off('update', wake);
    },
    () => !carts.instances().some((instance) => instance.id === 'carts-2'),
  );
  for (const key of keys) {
    const now = await answeredBy(await carts.fetch('/', { sessionKey: key }));
    if (home.get(key) === 'carts-2') t.not(now, 'carts-2', `${key} moved off the instance that left`);
    else t.equal(now, home.get(key), `${key} stayed where it was`);
  }
  await t.rejects(carts.fetch('/'), { code: 'invalid_option' }, 'maglev without a session key is refused');
});

t.test('cluster mode: an unreachable Konsul URL is skipped', async (t) => {
  const server = await startTestKonsul(t);
  await startTargets(t, server, 'payments', 1);
  const dead = await startHttpTarget(t);
  await dead.close();
  const { konsul, clock } = startClient(t, [`http://127.0.0.1:${dead.port}`, konsulUrl(server)]);
  const payments = konsul.balancer('payments');
  await until(
    'the first node failed',
    (wake) => {
      payments.on('stale', wake);
      return () => payments.off('stale', wake);
    },
    () => payments.stats().catalog.errors > 0,
  );
  t.match(payments.stats().catalog, { stale: true, url: konsulUrl(server) }, 'failed over to the next node');
  await clock.advance(1000);
  await payments.ready();
  t.equal(await answeredBy(await payments.fetch('/')), 'payments-1');
  t.equal(payments.stats().catalog.url, konsulUrl(server), 'stays on the node that answered');
});

t.test('close() ends the calls in flight and leaves no timer on the clock', async (t) => {
  const server = await startTestKonsul(t);
  const hanging = await startHttpTarget(t, { kind: 'hang' });
  await registerTarget(server, 'slow', 'slow-1', hanging.port);
  const { konsul, clock } = startClient(t, [konsulUrl(server)]);
  const slow = konsul.balancer('slow', { perTryTimeout: '5s' });
  await slow.ready();
  const call = slow.fetch('/');
  await hanging.until('the call reached the target', () => hanging.requests.length === 1);
  t.ok(clock.pending > 0, 'the per-try timeout is armed');
  await konsul.close();
  await t.rejects(call, { code: 'closed' });
  t.equal(clock.pending, 0, 'no timer of the client is left');
  await t.rejects(slow.fetch('/'), { code: 'closed' });
});

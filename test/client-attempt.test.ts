import t from 'tap';
import { setDispatcherRoute, usesDispatcherRoute } from '../src/client/attempt.js';
import { konsulUrl, registerTarget, startClient } from './helpers/client-fixtures.js';
import { startHttpTarget, type TargetBehaviour, type TestContext } from './helpers/health-targets.js';
import { startTestKonsul } from './helpers/konsul.js';

/** One instance of `service` answering with `behaviour`, and a client balancing it with one try per call. */
async function setup(t: TestContext, behaviour: TargetBehaviour, service = 'payments') {
  const server = await startTestKonsul(t);
  const target = await startHttpTarget(t, behaviour);
  await registerTarget(server, service, `${service}-1`, target.port);
  const { konsul, clock } = startClient(t, [konsulUrl(server)]);
  const balancer = konsul.balancer(service, { perTryTimeout: '1s', maxRetries: 0, outlier: false, breaker: false });
  await balancer.ready();
  return { target, clock, balancer };
}

/** undici's Agent, the class of Node's global dispatcher (no undici package needed). */
interface Agent {
  destroy(): Promise<void>;
}
function undiciAgent(options: { connections: number }): Agent {
  const global = (globalThis as unknown as Record<symbol, object>)[Symbol.for('undici.globalDispatcher.1')];
  const Agent = global.constructor as new (options: { connections: number }) => Agent;
  return new Agent(options);
}

t.test('on this runtime attempts take the dispatcher route', async (t) => {
  t.ok(usesDispatcherRoute(), `undici ${process.versions.undici} hands its dispatcher handlers the attempt can wrap`);
});

t.test('a balanced call makes no AbortController of its own: as many are made as for a plain fetch', async (t) => {
  const { target, balancer } = await setup(t, { kind: 'status', status: 200, body: 'ok' });
  const Original = globalThis.AbortController;
  let made = 0;
  globalThis.AbortController = class extends Original {
    constructor() {
      super();
      made++;
    }
  };
  t.teardown(() => {
    globalThis.AbortController = Original;
  });
  const calls = 20;
  made = 0;
  for (let i = 0; i < calls; i++) await (await fetch(`http://127.0.0.1:${target.port}/`)).text();
  const plain = made;
  made = 0;
  for (let i = 0; i < calls; i++) await (await balancer.fetch('/')).text();
  // Each fetch makes one inside undici; the old client made one more per attempt (20 more here).
  // The margin leaves room for a catalog poll or another part of the process making a few.
  t.ok(
    made - plain < calls / 2,
    `${calls} balanced calls made ${made} AbortControllers, ${calls} plain fetches ${plain}`,
  );
  t.equal(balancer.stats().requests, calls);
});

t.test('a per-try timeout stops an attempt on its connection, and one still waiting for a connection', async (t) => {
  const { target, clock, balancer } = await setup(t, { kind: 'hang' });
  const onConnection = t.rejects(balancer.fetch('/'), { code: 'request_failed', message: /timed out/ });
  await target.until('the call reached the target', () => target.requests.length === 1);
  await clock.advance(1000);
  await onConnection;
  await target.until('the timed-out connection is closed', () => target.openSockets === 0);

  // The caller's own dispatcher, one connection, held by a plain fetch that never ends: the
  // balanced call waits in undici's queue, and its timeout must end it there.
  const agent = undiciAgent({ connections: 1 });
  const holder = fetch(`http://127.0.0.1:${target.port}/`, { dispatcher: agent } as RequestInit).catch(
    (error: unknown) => error,
  );
  await target.until('the plain fetch holds the connection', () => target.requests.length === 2);
  const queued = t.rejects(
    balancer.fetch('/', { dispatcher: agent } as RequestInit),
    { code: 'request_failed', message: /timed out/ },
    'in the queue',
  );
  await clock.advance(1000);
  await queued;
  await agent.destroy();
  await holder;
  t.equal(target.requests.length, 2, 'the queued request was never sent');
  t.equal(balancer.stats().instances[0].failures, 2, 'both count as failures of the instance');
});

t.test('the timeout ends at the headers: a body still arriving is not cut', async (t) => {
  const { clock, balancer } = await setup(t, { kind: 'hang-mid-response' });
  const response = await balancer.fetch('/');
  await clock.advance(5000);
  const reader = response.body!.getReader();
  const first = await reader.read();
  t.equal(
    Buffer.from(first.value as Uint8Array).toString(),
    'partial',
    'the body is read after the per-try timeout passed',
  );
  await reader.cancel();
});

t.test("the caller's signal ends a call with its reason, and is not held against the instance", async (t) => {
  const { target, balancer } = await setup(t, { kind: 'hang' });
  const controller = new AbortController();
  const call = balancer.fetch('/', { signal: controller.signal });
  await target.until('the call reached the target', () => target.requests.length === 1);
  const reason = new Error('the caller gave up');
  controller.abort(reason);
  await t.rejects(call, reason);
  t.equal(balancer.stats().instances[0].failures, 0);
});

t.test('the AbortSignal route, for runtimes whose fetch hands over other handlers, keeps both', async (t) => {
  setDispatcherRoute(false);
  t.teardown(() => setDispatcherRoute(true));
  t.notOk(usesDispatcherRoute());
  const { target, clock, balancer } = await setup(t, { kind: 'hang' });
  const timedOut = t.rejects(
    balancer.fetch('/'),
    { code: 'request_failed', message: /timed out/ },
    'the per-try timeout',
  );
  await target.until('the call reached the target', () => target.requests.length === 1);
  await clock.advance(1000);
  await timedOut;

  const controller = new AbortController();
  const aborted = balancer.fetch('/', { signal: controller.signal });
  await target.until('the second call reached the target', () => target.requests.length === 2);
  const reason = new Error('the caller gave up');
  controller.abort(reason);
  await t.rejects(aborted, reason, "the caller's signal");
  t.equal(balancer.stats().instances[0].failures, 1, 'only the timeout counts against the instance');
});

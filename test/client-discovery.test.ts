import { createServer } from 'node:http';
import t from 'tap';
import type { Balancer } from '../src/client/index.js';
import { tempDir } from './helpers/catalog.js';
import { answeredBy, konsulUrl, registerTarget, startClient, startTargets } from './helpers/client-fixtures.js';
import { startHttpTarget } from './helpers/health-targets.js';
import { startTestKonsul } from './helpers/konsul.js';
import { until } from './helpers/wait.js';

/** Resolves once `condition` holds, checked on each of the balancer's `events`. */
function on(
  balancer: Balancer,
  event: string,
  what: string,
  condition: () => boolean,
  ...more: string[]
): Promise<void> {
  const events = [event, ...more];
  return until(
    what,
    (wake) => {
      for (const name of events) balancer.on(name, wake);
      return () => {
        for (const name of events) balancer.off(name, wake);
      };
    },
    condition,
  );
}

t.test('Konsul restarted during traffic: calls flow on the last list, then the balancer resyncs', async (t) => {
  const dataDir = tempDir(t);
  const first = await startTestKonsul(t, { storage: { dataDir } });
  const port = first.httpPort;
  await startTargets(t, first, 'payments', 2);
  const { konsul, clock } = startClient(t, [konsulUrl(first)], { retryBase: '100ms', retryMax: '1s' });
  const payments = konsul.balancer('payments');
  await payments.ready();
  const indexBefore = payments.stats().catalog.index;

  const stale = on(payments, 'stale', 'the watch lost Konsul', () => payments.stats().catalog.stale);
  await first.close();
  await stale;
  t.match(payments.stats().catalog, { stale: true, index: indexBefore }, 'stale, and says so');
  t.type(payments.stats().catalog.staleSince, 'number');
  const answers = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const response = await payments.fetch('/');
    t.equal(response.status, 200, `call ${i} during the outage`);
    answers.add(await answeredBy(response));
  }
  t.same([...answers].sort(), ['payments-1', 'payments-2'], 'on the last list it had');

  const second = await startTestKonsul(t, { storage: { dataDir }, http: { port } });
  // Each retry waits at most retryMax on the virtual clock; one may still hit a pooled socket
  // the old server closed, so step until Konsul answers.
  while (payments.stats().catalog.stale) {
    const { errors, syncs } = payments.stats().catalog;
    await clock.advance(1000);
    await on(
      payments,
      'sync',
      'a retry ended',
      () => {
        const now = payments.stats().catalog;
        return now.errors > errors || now.syncs > syncs;
      },
      'stale',
    );
  }
  t.equal(payments.stats().catalog.index, indexBefore, 'the same catalog, the same index');
  t.equal(payments.stats().catalog.staleSince, null);

  const fresh = await startHttpTarget(t, { kind: 'status', status: 200, body: 'payments-3' });
  const updated = on(payments, 'update', 'payments-3 arrived', () =>
    payments.instances().some((instance) => instance.id === 'payments-3'),
  );
  await registerTarget(second, 'payments', 'payments-3', fresh.port);
  await updated;
  t.ok(payments.stats().catalog.index > indexBefore, 'and follows its writes again');
});

t.test('an answer behind the index in use is not applied, unless the catalog keeps saying so', async (t) => {
  // A Konsul node as a client sees one: answers scripted per call, with their X-Konsul-Index.
  const script: { index: number; ids: string[] }[] = [
    { index: 10, ids: ['a'] },
    { index: 5, ids: ['b'] },
    { index: 5, ids: ['b'] },
    { index: 5, ids: ['b'] },
  ];
  const seenIndexes: string[] = [];
  const node = createServer((request, response) => {
    seenIndexes.push(new URL(request.url!, 'http://x').searchParams.get('index') ?? 'none');
    const step = script.shift();
    if (step === undefined) return; // held, as a blocking query with nothing new
    const body = step.ids.map((id) => ({ id, name: 'web', address: '127.0.0.1', port: 1, status: 'passing' }));
    response.writeHead(200, { 'content-type': 'application/json', 'x-konsul-index': String(step.index) });
    response.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    node.closeAllConnections();
    node.close();
  });
  const address = node.address() as { port: number };
  const { konsul, clock } = startClient(t, [`http://127.0.0.1:${address.port}`], {
    retryBase: '100ms',
    retryMax: '100ms',
  });
  const web = konsul.balancer('web');
  await web.ready();
  t.same(
    web.instances().map((instance) => instance.id),
    ['a'],
  );

  await on(web, 'sync', 'the first answer behind', () => web.stats().catalog.behind === 1);
  t.same(
    web.instances().map((instance) => instance.id),
    ['a'],
    'index 5 after 10: not applied',
  );
  t.equal(web.stats().catalog.index, 10);
  await clock.advance(100);
  await on(web, 'sync', 'the second answer behind', () => web.stats().catalog.behind === 2);
  t.same(
    web.instances().map((instance) => instance.id),
    ['a'],
  );
  const reset = on(web, 'update', 'the reset applied', () => web.stats().catalog.index === 5);
  await clock.advance(100);
  await reset;
  t.same(
    web.instances().map((instance) => instance.id),
    ['b'],
    'three in a row: the catalog was reset',
  );
  t.same(seenIndexes.slice(0, 4), ['none', '10', '10', '10'], 'it kept asking from its own index');
});

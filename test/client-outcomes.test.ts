import { EventEmitter } from 'node:events';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { ClientObserver } from '../src/client/index.js';
import { konsulUrl, startClient, startTargets } from './helpers/client-fixtures.js';
import type { TestContext } from './helpers/health-targets.js';
import { startTestKonsul, type TestKonsul } from './helpers/konsul.js';
import { when } from './helpers/wait.js';

const OUTCOMES_ROUTE = '/catalog/instances/:id/outcomes';

/** POSTs the server answered on the outcomes route, from its own konsul_http_requests_total. */
async function outcomePosts(server: TestKonsul): Promise<number> {
  const text = await (await fetch(`${konsulUrl(server)}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('konsul_http_requests_total{') && line.includes(`route="${OUTCOMES_ROUTE}"`))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

async function excludedAsEjected(server: TestKonsul, service: string): Promise<string[]> {
  const answer = (await (await fetch(`${konsulUrl(server)}/catalog/services/${service}?explain=true`)).json()) as {
    excluded: { id: string; reason: string }[];
  };
  return answer.excluded.filter((entry) => entry.reason === 'ejected').map((entry) => entry.id);
}

/** Reports that ended at the client, as events a test can wait on. */
function reportEvents(): { observer: ClientObserver; ended: EventEmitter } {
  const ended = new EventEmitter();
  return { observer: { outcomeReport: (_service, id, ok) => ended.emit('report', id, ok) }, ended };
}

/**
 * A pass-through HTTP proxy in front of Konsul that holds every outcome POST until release()
 * is called, so a test sees a report in flight for as long as it wants.
 */
async function startHoldingProxy(t: TestContext, server: TestKonsul) {
  const held: (() => void)[] = [];
  const arrived = new EventEmitter();
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const upstream = request(
      { host: '127.0.0.1', port: server.httpPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(upstream);
  };
  const proxy = createServer((req, res) => {
    if (req.method === 'POST' && req.url?.endsWith('/outcomes') === true) {
      held.push(() => forward(req, res));
      arrived.emit('held');
    } else forward(req, res);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    proxy.closeAllConnections();
    return new Promise((resolve) => proxy.close(resolve));
  });
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    held: () => held.length,
    arrived,
    release: () => held.splice(0).forEach((go) => go()),
  };
}

/** A server ejecting after 3 failures in a row, 3 targets, payments-2 answering 503. */
async function failingService(t: TestContext) {
  const server = await startTestKonsul(t, {
    lb: { outlierDetection: { consecutiveFailures: 3, maxEjectionPercent: 50 } },
  });
  const targets = await startTargets(t, server, 'payments', 3);
  targets.byId.get('payments-2')!.behaviour = { kind: 'status', status: 503, body: 'down' };
  return { server, targets };
}

t.test(
  'a target that keeps failing for the client is ejected on the server, from one coalesced report per instance',
  async (t) => {
    const { server } = await failingService(t);
    const { observer, ended } = reportEvents();
    const { konsul, clock } = startClient(t, [konsulUrl(server)], { observer });
    // The client's own ejection is off, so every failure it sees is one the server must learn of.
    const payments = konsul.balancer('payments', {
      outlier: false,
      breaker: false,
      reportOutcomes: { interval: '2s' },
    });
    await payments.ready();
    const failuresOf = () => payments.stats().instances.find((instance) => instance.id === 'payments-2')!.failures;
    let calls = 0;
    while (failuresOf() < 3) {
      t.equal((await payments.fetch('/charge')).status, 200, 'the call succeeds on another instance');
      calls++;
    }
    const attempts = payments.stats().instances.reduce((sum, instance) => sum + instance.requests, 0);
    t.ok(attempts >= 6, `${attempts} attempts over ${calls} calls`);

    await clock.advance(1999);
    t.equal(await outcomePosts(server), 0, 'nothing is sent before the report interval');
    t.same(await excludedAsEjected(server, 'payments'), [], 'the server has not ejected anything yet');

    await clock.advance(1);
    await when('three reports ended', ended, 'report', () => payments.stats().outcomeReports!.sent === 3);
    t.same(payments.stats().outcomeReports, { sent: 3, failed: 0, dropped: 0 });
    t.equal(await outcomePosts(server), 3, `one POST per instance for ${attempts} attempts`);
    t.same(await excludedAsEjected(server, 'payments'), ['payments-2'], 'payments-2 is ejected on the server');
    t.match(
      await (await fetch(`${konsulUrl(server)}/metrics`)).text(),
      /konsul_lb_ejections_total\{[^}]*\} 1/,
      'and counted in the server metrics',
    );

    // Idle: nothing more is sent, and no timer of the reporter is left on the clock.
    await clock.advance(10_000);
    t.equal(await outcomePosts(server), 3, 'no report without new outcomes');
  },
);

t.test('without reportOutcomes the same failures never reach the server', async (t) => {
  const { server } = await failingService(t);
  const { konsul, clock } = startClient(t, [konsulUrl(server)]);
  const payments = konsul.balancer('payments', { outlier: false, breaker: false });
  await payments.ready();
  while (payments.stats().instances.find((instance) => instance.id === 'payments-2')!.failures < 3)
    await (await payments.fetch('/charge')).text();
  await clock.advance(10_000);
  t.equal(await outcomePosts(server), 0);
  t.same(await excludedAsEjected(server, 'payments'), []);
  t.equal(payments.stats().outcomeReports, undefined, 'no report stats when reports are off');
});

t.test('maxPending bounds the instances waiting to be reported; the rest are dropped and counted', async (t) => {
  const server = await startTestKonsul(t);
  await startTargets(t, server, 'payments', 3);
  const { observer, ended } = reportEvents();
  const { konsul, clock } = startClient(t, [konsulUrl(server)], { observer });
  const payments = konsul.balancer('payments', {
    outlier: false,
    breaker: false,
    reportOutcomes: { interval: '1s', maxPending: 1 },
  });
  await payments.ready();
  for (let i = 0; i < 6; i++) await (await payments.fetch('/')).text();
  t.same(payments.stats().outcomeReports, { sent: 0, failed: 0, dropped: 4 }, 'round robin: 2 kept, 4 dropped');
  await clock.advance(1000);
  await when('the one report ended', ended, 'report', () => payments.stats().outcomeReports!.sent === 1);
  t.equal(await outcomePosts(server), 1);
});

t.test('an unreachable Konsul drops the reports and counts them; calls are not affected', async (t) => {
  const server = await startTestKonsul(t);
  const targets = await startTargets(t, server, 'payments', 2);
  const { observer, ended } = reportEvents();
  const { konsul, clock } = startClient(t, [konsulUrl(server)], { observer });
  const payments = konsul.balancer('payments', {
    outlier: false,
    breaker: false,
    reportOutcomes: { interval: '1s' },
  });
  await payments.ready();
  await server.close();
  for (let i = 0; i < 4; i++) t.equal((await payments.fetch('/')).status, 200, 'calls go on');
  t.same(targets.counts(), { 'payments-1': 2, 'payments-2': 2 });
  await clock.advance(1000);
  await when('both reports failed', ended, 'report', () => payments.stats().outcomeReports!.failed === 2);
  t.same(payments.stats().outcomeReports, { sent: 0, failed: 2, dropped: 4 });
  for (let i = 0; i < 2; i++) t.equal((await payments.fetch('/')).status, 200, 'calls still go on');
});

t.test('an instance with a report in flight gets no second one until it ends', async (t) => {
  const server = await startTestKonsul(t);
  await startTargets(t, server, 'payments', 1);
  const proxy = await startHoldingProxy(t, server);
  const { observer, ended } = reportEvents();
  const { konsul, clock } = startClient(t, [proxy.url], { observer });
  const payments = konsul.balancer('payments', {
    outlier: false,
    breaker: false,
    reportOutcomes: { interval: '1s' },
  });
  await payments.ready();
  await (await payments.fetch('/')).text();
  await clock.advance(1000);
  await when('the first report is held', proxy.arrived, 'held', () => proxy.held() === 1);
  // Two more intervals with new outcomes while the first report is held: nothing else is sent.
  await (await payments.fetch('/')).text();
  await clock.advance(1000);
  await (await payments.fetch('/')).text();
  await clock.advance(1000);
  t.equal(proxy.held(), 1, 'one report in flight for the instance');
  proxy.release();
  await when('the first report ended', ended, 'report', () => payments.stats().outcomeReports!.sent === 1);
  t.equal(await outcomePosts(server), 1);
  await clock.advance(1000);
  await when('the second report is held', proxy.arrived, 'held', () => proxy.held() === 1);
  proxy.release();
  await when('the second report ended', ended, 'report', () => payments.stats().outcomeReports!.sent === 2);
  t.equal(await outcomePosts(server), 2, 'the two later outcomes went in one report');
  t.equal(payments.stats().outcomeReports!.dropped, 0);
});

import t from 'tap';
import { answeredBy, konsulUrl, startClient, startTargets } from './helpers/client-fixtures.js';
import { startTestKonsul } from './helpers/konsul.js';

/**
 * least-connections and p2c order by the client's own requests in flight (docs/client.md,
 * "Picking"): while one instance holds a call, new calls go to the other; once that call ends,
 * both are picked again. Two instances, so p2c always draws both and its choice is the less loaded.
 */
for (const strategy of ['least-connections', 'p2c']) {
  t.test(`${strategy}: an instance holding a call gets no new one until it ends`, async (t) => {
    const server = await startTestKonsul(t);
    const targets = await startTargets(t, server, 'payments', 2);
    const { konsul } = startClient(t, [konsulUrl(server)]);
    const payments = konsul.balancer('payments', { strategy, outlier: false, breaker: false });
    await payments.ready();
    const slow = targets.byId.get('payments-1')!;
    slow.behaviour = { kind: 'hang' };

    // Calls until one is held by payments-1 (the other answers at once). Once one is, every
    // wait on payments-1's requests has resolved.
    const abort = new AbortController();
    let held: Promise<unknown> | undefined = undefined;
    for (let i = 0; i < 20 && held === undefined; i++) {
      const seen = slow.requests.length;
      const call = payments.fetch('/charge', { signal: abort.signal });
      const answered = call.then(answeredBy, () => 'aborted');
      const first = await Promise.race([
        answered,
        slow.until('payments-1 holds a call', () => slow.requests.length > seen).then(() => 'held'),
      ]);
      if (first === 'held') held = answered;
      else t.equal(first, 'payments-2', 'a call not held was answered by payments-2');
    }
    t.ok(held !== undefined, 'a call is held by payments-1');
    t.equal(payments.stats().instances.find((instance) => instance.id === 'payments-1')!.inFlight, 1);

    // The held call stays held; a new call to payments-1 would be answered at once.
    slow.behaviour = { kind: 'status', status: 200, body: 'payments-1' };
    const answers: string[] = [];
    for (let i = 0; i < 10; i++) answers.push(await answeredBy(await payments.fetch('/charge')));
    t.same(new Set(answers), new Set(['payments-2']), 'every call goes to the instance with nothing in flight');

    abort.abort();
    t.equal(await held, 'aborted');
    t.equal(payments.stats().instances.find((instance) => instance.id === 'payments-1')!.inFlight, 0);
    const after = new Set<string>();
    for (let i = 0; i < 20 && after.size < 2; i++) after.add(await answeredBy(await payments.fetch('/charge')));
    t.same(after, new Set(['payments-1', 'payments-2']), 'once the call ended, both are picked again');
  });
}

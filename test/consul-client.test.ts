import { once } from 'node:events';
import t from 'tap';
import Consul from 'consul';
import { startTestKonsul } from './helpers/konsul.js';

/**
 * Konsul driven by the npm `consul` client (v2), called exactly as its README shows: if these
 * pass, an application written against Consul works against Konsul unchanged.
 */

interface HealthEntry {
  Node: { Node: string };
  Service: { ID: string; Service: string; Address: string; Port: number; Tags: string[] };
  Checks: { CheckID: string; Status: string; Output: string }[];
}
/** What the client rejects with on a non-2xx answer: the status and Consul's plain-text body. */
type ClientError = Error & { statusCode?: number; response?: { body?: unknown } };
interface CatalogEntry {
  ServiceID: string;
  ServiceName: string;
  ServiceAddress: string;
  ServicePort: number;
  ServiceTags: string[];
}

async function consulFor(t: Parameters<typeof startTestKonsul>[0]) {
  const server = await startTestKonsul(t);
  return { server, consul: new Consul({ host: '127.0.0.1', port: server.httpPort }) };
}

t.test(
  'a service registered with a TTL check is critical until agent.check.pass, then passing everywhere',
  async (t) => {
    const { consul } = await consulFor(t);
    await consul.agent.service.register({
      name: 'example',
      id: 'example-1',
      address: '10.0.0.7',
      port: 8080,
      tags: ['v1'],
      // The client's typings want name and timeout on every check; it sends no Timeout for a TTL check.
      check: { name: 'example heartbeat', ttl: '30s', timeout: '1s' },
    });

    const nodes = (await consul.catalog.service.nodes('example')) as CatalogEntry[];
    t.match(nodes, [
      {
        ServiceID: 'example-1',
        ServiceName: 'example',
        ServiceAddress: '10.0.0.7',
        ServicePort: 8080,
        ServiceTags: ['v1'],
      },
    ]);
    t.same(
      await consul.health.service({ service: 'example', passing: true }),
      [],
      'a new TTL check starts critical, as in Consul',
    );

    await consul.agent.check.pass({ id: 'service:example-1', note: 'warmed up' });
    const healthy = (await consul.health.service({ service: 'example', passing: true })) as HealthEntry[];
    t.equal(healthy.length, 1);
    t.match(healthy[0], {
      Node: { Node: 'konsul' },
      Service: { ID: 'example-1', Service: 'example', Address: '10.0.0.7', Port: 8080 },
    });
    t.match(
      healthy[0].Checks.find((check) => check.CheckID === 'service:example-1'),
      { Status: 'passing', Output: 'warmed up' },
    );

    await consul.agent.check.fail('service:example-1');
    t.same(await consul.health.service({ service: 'example', passing: true }), []);
    t.equal(
      ((await consul.health.service('example')) as HealthEntry[]).length,
      1,
      'without passing, critical instances are listed as Consul lists them',
    );

    await consul.agent.service.deregister('example-1');
    t.same(await consul.catalog.service.nodes('example'), []);
    t.same(await consul.agent.service.list(), {});
  },
);

t.test('the client sees Consul errors: an unknown service ID on deregister and an unknown check on pass', async (t) => {
  const { consul } = await consulFor(t);
  const deregister = await consul.agent.service.deregister('ghost').then(
    () => null,
    (error: ClientError) => error,
  );
  t.equal(deregister?.statusCode, 404);
  t.equal(
    deregister?.response?.body,
    'Unknown service ID "ghost". Ensure that the service ID is passed, not the service name.',
  );
  const pass = await consul.agent.check.pass('service:ghost').then(
    () => null,
    (error: ClientError) => error,
  );
  t.equal(pass?.statusCode, 404);
  t.match(pass?.response?.body, /^Unknown check ID "service:ghost"/);
});

t.test(
  'agent.self, status.leader, agent.service.list and catalog.service.list answer as a Consul agent would',
  async (t) => {
    const { consul } = await consulFor(t);
    await consul.agent.service.register({ name: 'api', port: 9000, address: '10.0.0.9', tags: ['b', 'a'] });
    t.match(await consul.agent.self(), {
      Config: { Datacenter: 'dc1', NodeName: 'konsul' },
      Member: { Name: 'konsul', Status: 1 },
    });
    t.equal(await consul.status.leader(), '127.0.0.1:8300');
    t.match(
      await consul.agent.service.list(),
      { api: { ID: 'api', Service: 'api', Port: 9000, Address: '10.0.0.9' } },
      'the ID defaults to the name, as in Consul',
    );
    t.same(await consul.catalog.service.list(), { api: ['a', 'b'] });
  },
);

t.test('a watch on health.service sees a registration and then a deregistration', async (t) => {
  const { consul } = await consulFor(t);
  // Another service already in the catalog: the case of a brand-new catalog is the next test.
  await consul.agent.service.register({ name: 'other', address: '10.0.9.9', port: 1 });
  // eslint-disable-next-line @typescript-eslint/unbound-method -- the client's watch calls it on its own client
  const watch = consul.watch({ method: consul.health.service, options: { service: 'worker', wait: '10s' } });
  t.teardown(() => watch.end());
  const errors: unknown[] = [];
  watch.on('error', (error: unknown) => errors.push(error));

  // The first answer comes at once (no index yet): the service does not exist.
  const [initial] = (await once(watch, 'change')) as [HealthEntry[]];
  t.same(initial, []);

  const registered = once(watch, 'change');
  await consul.agent.service.register({ name: 'worker', id: 'worker-1', address: '10.0.1.1', port: 7000 });
  const [afterRegister] = (await registered) as [HealthEntry[]];
  t.same(
    afterRegister.map((entry) => entry.Service.ID),
    ['worker-1'],
  );

  const deregistered = once(watch, 'change');
  await consul.agent.service.deregister('worker-1');
  const [afterDeregister] = (await deregistered) as [HealthEntry[]];
  t.same(afterDeregister, []);
  t.same(errors, [], 'the watch never failed');
});

t.test('a watch started on a brand-new, empty catalog sees the first registration', async (t) => {
  const { consul } = await consulFor(t);
  // eslint-disable-next-line @typescript-eslint/unbound-method -- the client's watch calls it on its own client
  const watch = consul.watch({ method: consul.health.service, options: { service: 'first', wait: '1s' } });
  t.teardown(() => watch.end());
  await once(watch, 'change');
  const registered = once(watch, 'change');
  await consul.agent.service.register({ name: 'first', address: '10.0.1.1', port: 7000 });
  const timeout = new Promise<'timed out'>((resolve) => setTimeout(() => resolve('timed out'), 3000).unref());
  t.not(await Promise.race([registered.then(() => 'seen' as const), timeout]), 'timed out');
});

import t, { type Test } from 'tap';
import type { Instance } from '../src/catalog/types.js';
import { json, startTestKonsul, type TestKonsul } from './helpers/konsul.js';

/** An instance as a service query lists it. */
type InstanceBody = Omit<Instance, 'checks' | 'createIndex' | 'modifyIndex'>;
interface Explained {
  instances: InstanceBody[];
  excluded: { id: string; reason: string; instance: InstanceBody }[];
  strategy: string;
  panic: boolean;
  index: number;
}

/** Registers `web` instances: a..e with statuses and tags chosen so every reason shows up. */
async function registerWeb(t: Test, app: TestKonsul['app']): Promise<void> {
  const instances: [string, 'passing' | 'warning' | 'critical', string[], Record<string, string>][] = [
    ['a', 'passing', ['v2'], { build: '7' }],
    ['b', 'warning', ['v2'], { build: '7' }],
    ['c', 'critical', ['v2'], { build: '7' }],
    ['d', 'passing', ['v1'], { build: '7' }],
    ['e', 'passing', ['v2'], { build: '8' }],
    ['f', 'passing', ['v2'], { build: '7' }],
  ];
  for (const [id, status, tags, meta] of instances) {
    const registered = await app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: {
        id,
        name: 'web',
        address: '10.0.0.1',
        port: 80,
        tags,
        meta,
        checks: [{ type: 'ttl', ttl: '1h', status }],
      },
    });
    t.equal(registered.statusCode, 200, `registered ${id}`);
  }
}

const reasons = (body: Explained): [string, string][] => body.excluded.map((entry) => [entry.id, entry.reason]);
const ids = (instances: readonly InstanceBody[]): string[] => instances.map((instance) => instance.id);

t.test('explain=true answers the same ordered instances and says why every other one is left out', async (t) => {
  const { app } = await startTestKonsul(t);
  await registerWeb(t, app);
  // A hash strategy answers the same order for the same key, so two queries can be compared.
  const query = 'lb=maglev&session-key=cart-1&tag=v2&meta=build:7&passing=true';
  const plain = await app.inject({ method: 'GET', url: `/catalog/services/web?${query}` });
  const explained = await app.inject({ method: 'GET', url: `/catalog/services/web?${query}&explain=true` });
  t.equal(explained.statusCode, 200);
  const body = json<Explained>(explained);
  t.same(body.instances, json<InstanceBody[]>(plain), 'instances are the plain answer, in its order');
  t.same(ids(body.instances).sort(), ['a', 'f']);
  t.same(reasons(body), [
    ['b', 'warning'],
    ['c', 'critical'],
    ['d', 'tag'],
    ['e', 'meta'],
  ]);
  t.equal(body.excluded[0]?.instance.status, 'warning', 'each exclusion carries the instance');
  t.equal(body.strategy, 'maglev');
  t.equal(body.panic, false);
  t.equal(body.index, Number(explained.headers['x-konsul-index']));
  t.equal(explained.headers['x-konsul-strategy'], 'maglev');
});

t.test('without passing=true a warning instance is answered; health-filter=false answers critical ones', async (t) => {
  const { app } = await startTestKonsul(t);
  await registerWeb(t, app);
  const get = async (query: string) =>
    json<Explained>(await app.inject({ method: 'GET', url: `/catalog/services?name=web&explain=true&${query}` }));
  const defaults = await get('tag=v2');
  t.same(reasons(defaults), [
    ['c', 'critical'],
    ['d', 'tag'],
  ]);
  t.same(ids(defaults.instances).sort(), ['a', 'b', 'e', 'f']);
  const unfiltered = await get('health-filter=false');
  t.same(reasons(unfiltered), []);
  t.equal(unfiltered.instances.length, 6);
});

t.test('instances past limit are not excluded, only not answered', async (t) => {
  const { app } = await startTestKonsul(t);
  await registerWeb(t, app);
  const body = json<Explained>(
    await app.inject({ method: 'GET', url: '/catalog/services/web?explain=true&limit=1&lb=round-robin' }),
  );
  t.equal(body.instances.length, 1);
  t.same(reasons(body), [['c', 'critical']]);
  t.equal(body.strategy, 'round-robin');
});

t.test('in panic mode nothing is excluded for health and panic is true', async (t) => {
  const { app } = await startTestKonsul(t, { lb: { panicThreshold: 90 } });
  await registerWeb(t, app);
  const response = await app.inject({ method: 'GET', url: '/catalog/services/web?explain=true&passing=true' });
  const body = json<Explained>(response);
  t.equal(body.panic, true);
  t.equal(response.headers['x-konsul-panic'], 'true');
  t.same(reasons(body), []);
  t.equal(body.instances.length, 6);
});

t.test('explain works on a blocking query, on the short route, and explain=false keeps the plain array', async (t) => {
  const { app } = await startTestKonsul(t);
  await registerWeb(t, app);
  const blocking = await app.inject({ method: 'GET', url: '/catalog/services/web?explain=true&index=1&wait=1s' });
  t.same(reasons(json<Explained>(blocking)), [['c', 'critical']]);
  const short = await app.inject({ method: 'GET', url: '/services/web?explain=true&tag=v1' });
  t.same(ids(json<Explained>(short).instances), ['d']);
  const plain = await app.inject({ method: 'GET', url: '/catalog/services/web?explain=false' });
  t.ok(Array.isArray(json(plain)), 'an array, as without the option');
  const bad = await app.inject({ method: 'GET', url: '/catalog/services/web?explain=maybe' });
  t.equal(bad.statusCode, 400);
});

t.test('an unknown service explains an empty answer', async (t) => {
  const { app } = await startTestKonsul(t);
  const body = json<Explained>(await app.inject({ method: 'GET', url: '/catalog/services/nobody?explain=true' }));
  t.same(body.instances, []);
  t.same(body.excluded, []);
  t.equal(body.panic, false);
});

import t, { type Test } from 'tap';
import { json, startTestKonsul } from './helpers/konsul.js';

interface Overview {
  index: number;
  dns: { enabled: boolean; domain: string };
  clustered: boolean;
  auth: { writes: boolean; reads: boolean };
  routes: { maintenance: boolean };
  services: { name: string; passing: number; critical: number; tags: string[]; changedAt: number | null }[];
}

const now = () => 1_700_000_000_000;

async function seeded(t: Test, dns = false) {
  const server = await startTestKonsul(t, { dns: { enabled: dns, port: 0, lb: 'ip-hash' } }, { now });
  const register = async (id: string, address: string, weight: number, status: string, tags: string[] = []) => {
    const response = await server.app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: {
        id,
        name: 'web',
        address,
        port: 80,
        weight,
        tags,
        checks: [{ id: `${id}-ttl`, type: 'ttl', ttl: '1h', status }],
      },
    });
    t.equal(response.statusCode, 200);
  };
  await register('w1', '10.0.0.1', 3, 'passing', ['v2']);
  await register('w2', '10.0.0.2', 1, 'passing', ['v1']);
  await register('w3', '10.0.0.3', 1, 'critical');
  return server;
}

t.test('the overview lists services with counts, tags and last change, and blocks on the catalog index', async (t) => {
  const { app } = await seeded(t);
  const first = json<Overview>(await app.inject({ method: 'GET', url: '/ui/api/overview' }));
  t.same(first.services, [
    {
      name: 'web',
      index: first.index,
      instances: 3,
      passing: 2,
      warning: 0,
      critical: 1,
      tags: ['v1', 'v2'],
      changedAt: now(),
      strategy: 'round-robin',
      strategyFrom: 'server',
    },
  ]);
  t.same(first.auth, { writes: false, reads: false });
  t.equal(first.routes.maintenance, true, 'the maintenance route is there, so the UI offers the button');
  t.equal(first.dns.enabled, false);
  t.equal(first.clustered, false);
  const waiting = app.inject({ method: 'GET', url: `/ui/api/overview?index=${first.index}&wait=10s` });
  await app.inject({ method: 'PUT', url: '/health/check/w1-ttl/fail', payload: {} });
  const woken = json<Overview>(await waiting);
  t.ok(woken.index > first.index, 'the held read returns once the index moves');
  t.equal(woken.services[0].critical, 2);
});

t.test('a service answers its instances with checks and its status history, newest first', async (t) => {
  const { app } = await seeded(t);
  await app.inject({ method: 'PUT', url: '/health/check/w1-ttl/warn', payload: { note: 'slow' } });
  const detail = json<{
    instances: { id: string; checks: { status: string; note: string }[] }[];
    history: { instanceId: string; kind: string; from: string | null; to: string | null; note: string }[];
  }>(await app.inject({ method: 'GET', url: '/ui/api/services/web' }));
  t.same(
    detail.instances.map((instance) => instance.id),
    ['w1', 'w2', 'w3'],
  );
  t.equal(detail.instances[0].checks[0].note, 'slow');
  t.same(detail.history[0], {
    ...detail.history[0],
    instanceId: 'w1',
    kind: 'check',
    from: 'passing',
    to: 'warning',
    note: 'slow',
  });
  t.equal(detail.history.length, 4, 'three registrations and one change');
  // The tab's one stream carries the detail of the service it shows.
  const carried = json<{ detail: { name: string; instances: unknown[]; history: unknown[] } }>(
    await app.inject({ method: 'GET', url: '/ui/api/overview?service=WEB' }),
  );
  t.equal(carried.detail.name, 'web');
  t.same(carried.detail.instances, detail.instances);
  t.same(carried.detail.history, detail.history);
});

t.test('the DNS preview is the DNS face answering a real query; 409 when DNS is off', async (t) => {
  const server = await seeded(t, true);
  await server.lb.tablesBuilt();
  const a = json<{ rcode: string; answers: { name: string; type: string; data: string }[] }>(
    await server.app.inject({ method: 'GET', url: '/ui/api/dns/web?type=A' }),
  );
  t.equal(a.rcode, 'NOERROR');
  t.same(
    a.answers.map((record) => [record.name, record.type]),
    [
      ['web.service.konsul.', 'A'],
      ['web.service.konsul.', 'A'],
    ],
  );
  t.same(a.answers.map((record) => record.data).sort(), ['10.0.0.1', '10.0.0.2'], 'the critical instance is left out');
  const tagged = json<{ answers: { data: string }[] }>(
    await server.app.inject({ method: 'GET', url: '/ui/api/dns/web?type=SRV&tag=v2' }),
  );
  t.same(
    tagged.answers.map((record) => record.data),
    ['1 3 80 0a000001.addr.konsul.'],
  );
  const missing = json<{ rcode: string }>(await server.app.inject({ method: 'GET', url: '/ui/api/dns/nobody?type=A' }));
  t.equal(missing.rcode, 'NXDOMAIN');
  const off = await seeded(t, false);
  const refused = await off.app.inject({ method: 'GET', url: '/ui/api/dns/web?type=A' });
  t.equal(refused.statusCode, 409);
  t.equal(json<{ error: { code: string } }>(refused).error.code, 'dns_disabled');
});

t.test(
  'distribution samples 10,000 keys for hash strategies and a window for the others, without moving real rotations',
  async (t) => {
    const { app } = await seeded(t);
    interface Shares {
      sampling: string;
      samples: number;
      instances: { id: string; weightShare: number; share: number; first: number }[];
    }
    const maglev = json<Shares>(await app.inject({ method: 'GET', url: '/ui/api/distribution/web?lb=maglev' }));
    t.equal(maglev.sampling, 'keys');
    t.equal(maglev.samples, 10_000);
    t.same(
      maglev.instances.map((row) => row.id),
      ['w1', 'w2'],
      'only instances a query can answer',
    );
    t.equal(
      maglev.instances.reduce((sum, row) => sum + row.first, 0),
      10_000,
    );
    t.ok(
      maglev.instances[0].share > 0.65 && maglev.instances[0].share < 0.9,
      // w3's table slots (critical) fall to the next candidate, so the split is near, not at, 3:1.
      `w1 gets about its weight share of 0.75 (${maglev.instances[0].share})`,
    );
    const before = json<{ id: string }[]>(
      await app.inject({ method: 'GET', url: '/catalog/services/web?lb=round-robin' }),
    );
    const rr = json<Shares>(await app.inject({ method: 'GET', url: '/ui/api/distribution/web?lb=round-robin' }));
    t.equal(rr.sampling, 'window');
    t.same(
      rr.instances.map((row) => row.share),
      [0.5, 0.5],
    );
    const after = json<{ id: string }[]>(
      await app.inject({ method: 'GET', url: '/catalog/services/web?lb=round-robin' }),
    );
    t.not(after[0].id, before[0].id, 'real clients keep their own rotation: the next query takes the next turn');
    const unknown = await app.inject({ method: 'GET', url: '/ui/api/distribution/web?lb=nope' });
    t.equal(unknown.statusCode, 400);
  },
);

t.test('the cluster route says when the server runs alone', async (t) => {
  const { app } = await seeded(t);
  const cluster = json<{ clustered: boolean; members: unknown[]; contact: unknown }>(
    await app.inject({ method: 'GET', url: '/ui/api/cluster' }),
  );
  t.same(
    { clustered: cluster.clustered, members: cluster.members, contact: cluster.contact },
    { clustered: false, members: [], contact: null },
  );
});

t.test('a service config sets the strategy the overview names and the distribution samples by default', async (t) => {
  const { app } = await seeded(t);
  const strategies = async () =>
    json<{ services: { name: string; strategy: string; strategyFrom: string }[] }>(
      await app.inject({ method: 'GET', url: '/ui/api/overview' }),
    ).services.map(({ name, strategy, strategyFrom }) => ({ name, strategy, strategyFrom }));
  t.same(await strategies(), [{ name: 'web', strategy: 'round-robin', strategyFrom: 'server' }]);
  const sampled = async () =>
    json<{ strategy: string; sampling: string }>(await app.inject({ method: 'GET', url: '/ui/api/distribution/web' }));
  t.equal((await sampled()).strategy, 'round-robin');

  const configured = await app.inject({
    method: 'PUT',
    url: '/catalog/services/web/config',
    payload: { lb: 'maglev' },
  });
  t.equal(configured.statusCode, 200);
  t.same(await strategies(), [{ name: 'web', strategy: 'maglev', strategyFrom: 'service' }]);
  t.same(
    await sampled(),
    { ...(await sampled()), strategy: 'maglev', sampling: 'keys' },
    'sampled with the service config',
  );
  const asked = json<{ strategy: string }>(
    await app.inject({ method: 'GET', url: '/ui/api/distribution/web?lb=round-robin' }),
  );
  t.equal(asked.strategy, 'round-robin', 'an explicit lb still wins');
});

t.test('alone, no check has an owner to show: the detail and the owners route say null', async (t) => {
  const { app } = await seeded(t);
  const detail = json<{ owners: unknown }>(await app.inject({ method: 'GET', url: '/ui/api/services/web' }));
  t.equal(detail.owners, null);
  const owners = json<{ name: string; members: unknown; owners: unknown }>(
    await app.inject({ method: 'GET', url: '/ui/api/services/WEB/owners' }),
  );
  t.same(owners, { name: 'web', members: null, owners: null });
  const cluster = json<{ checks: unknown }>(await app.inject({ method: 'GET', url: '/ui/api/cluster' }));
  t.equal(cluster.checks, null);
});

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/catalog.js';
import { idOwnedBy, ownerAmong } from '../helpers/check-owners.js';
import { eventually, startEtcd, uniquePrefix } from '../helpers/etcd.js';
import { startHttpTarget } from '../helpers/health-targets.js';
import { startKonsulProcess, type KonsulProcess } from '../helpers/process.js';

/**
 * Health checks when a cluster node dies without a word: three `konsul` processes over one
 * real etcd, one of them SIGKILLed (its membership lease then runs out on etcd's clock).
 */
const MEMBER_TTL_MS = 2000;
const INTERVAL_MS = 1000;
// etcd sweeps expired leases every 500 ms, and a taken-over check's first run is spread over up
// to a second: slack on top of the bound the docs give, so the test tells late from broken.
const SLACK_MS = 1500;
const TTL_MS = 3000;

async function call(node: KonsulProcess, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${node.port}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
}

async function statusOf(node: KonsulProcess, service: string, checkId: string): Promise<string | undefined> {
  const response = await call(node, 'GET', `/v1/health/checks/${service}`);
  const checks = (await response.json()) as { CheckID: string; Status: string }[];
  return checks.find((check) => check.CheckID === checkId)?.Status;
}

t.test('a SIGKILLed node: its checks move to the survivors in time, and its TTL checks still expire', async (t) => {
  const etcd = await startEtcd(t, 1);
  const target = await startHttpTarget(t);
  const dir = tempDir(t);
  const config = join(dir, 'konsul.json');
  writeFileSync(config, JSON.stringify({ dns: { enabled: false }, store: { etcd: { memberTtl: '2s' } } }));
  const prefix = uniquePrefix();
  const members = ['a', 'b', 'c'];
  const nodes = new Map<string, KonsulProcess>();
  for (const name of members) {
    nodes.set(
      name,
      await startKonsulProcess(t, {
        KONSUL_STORE: 'etcd',
        KONSUL_NODE_NAME: name,
        KONSUL_ETCD_ENDPOINTS: etcd.endpoints.join(','),
        KONSUL_ETCD_PREFIX: prefix,
        KONSUL_CONFIG: config,
        KONSUL_DATA_DIR: join(dir, name),
      }),
    );
  }
  const [a, b, c] = members.map((name) => nodes.get(name)!);

  // http checks, some of them a's; a TTL check a owns, and one b owns; all heartbeats go to a.
  const httpIds = Array.from({ length: 6 }, (_, i) => `web-http-${i}`);
  const ttlOfA = idOwnedBy('a', members, 'ttl-a');
  const ttlOfB = idOwnedBy('b', members, 'ttl-b');
  for (const [i, id] of httpIds.entries()) {
    const registered = await call(b, 'PUT', '/catalog/register', {
      id: `web-${i}`,
      name: 'web',
      address: '10.0.0.1',
      port: 8000 + i,
      checks: [{ id, type: 'http', http: `${target.url}?check=${id}`, interval: `${INTERVAL_MS}ms` }],
    });
    t.equal(registered.status, 200);
  }
  for (const id of [ttlOfA, ttlOfB]) {
    const registered = await call(c, 'PUT', '/catalog/register', {
      id: `beat-${id}`,
      name: 'beat',
      address: '10.0.0.2',
      port: 9000,
      checks: [{ id, type: 'ttl', ttl: `${TTL_MS}ms`, status: 'passing' }],
    });
    t.equal(registered.status, 200);
  }

  const probedBy = (id: string, from: number) =>
    new Set(
      target.requests
        .slice(from)
        .filter((request) => request.url.endsWith(`?check=${id}`))
        .map((request) => request.headers['x-konsul-node']),
    );
  // Settled: the latest probes of every check come from its owner among all three.
  const settledFrom = target.requests.length;
  await target.until('every check probed twice by its owner', () =>
    httpIds.every(
      (id) =>
        target.requests
          .slice(settledFrom)
          .filter((r) => r.url.endsWith(`?check=${id}`) && r.headers['x-konsul-node'] === ownerAmong(members, id))
          .length >= 2,
    ),
  );
  const ofA = httpIds.filter((id) => ownerAmong(members, id) === 'a');
  t.ok(ofA.length > 0, `a runs some http checks (${ofA.join(', ')})`);

  const beat = async () => {
    for (const id of [ttlOfA, ttlOfB]) t.equal((await call(a, 'PUT', `/v1/agent/check/pass/${id}`)).status, 200);
  };
  for (let i = 0; i < 8; i++) {
    await beat();
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  t.equal(await statusOf(c, 'beat', ttlOfA), 'passing');
  t.equal(await statusOf(c, 'beat', ttlOfB), 'passing');

  // a dies mid-stride: no lease revoke, no last word. The heartbeats stop with it.
  const killedAt = Date.now();
  a.child.kill('SIGKILL');
  await a.exited;
  const survivors = ['b', 'c'];
  const fromKill = target.requests.length;
  await target.until(`a's checks probed by their new owners within memberTtl + interval`, () =>
    ofA.every((id) => probedBy(id, fromKill).has(ownerAmong(survivors, id))),
  );
  const movedAfter = Date.now() - killedAt;
  t.ok(
    movedAfter <= MEMBER_TTL_MS + INTERVAL_MS + SLACK_MS,
    `moved ${movedAfter} ms after the kill (bound ${MEMBER_TTL_MS} + ${INTERVAL_MS} ms)`,
  );
  for (const id of httpIds) t.notOk(probedBy(id, fromKill).has('a'), `${id}: nothing from a after its death`);

  // Both TTL checks expire within TTL + 2 s of the last heartbeat, though the node that took
  // every heartbeat (and owned one of the checks) is gone.
  for (const id of [ttlOfA, ttlOfB]) {
    await eventually(
      `${id} critical on b and c`,
      async () => (await statusOf(b, 'beat', id)) === 'critical' && (await statusOf(c, 'beat', id)) === 'critical',
      killedAt + TTL_MS + 2000 - Date.now(),
    );
  }
  t.pass('both TTL checks turned critical within TTL + 2 s of the last heartbeat');
});

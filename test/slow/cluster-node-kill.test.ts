import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/catalog.js';
import { eventually, openEtcdCatalog, startEtcd, uniquePrefix, web } from '../helpers/etcd.js';
import { startKonsulProcess, type KonsulProcess } from '../helpers/process.js';

/**
 * A Konsul node SIGKILLed (a real child process, `konsul` as users start it) while two nodes
 * take a registration storm over HTTP: every registration either node acknowledged is in etcd
 * afterwards, and the survivor serves them all.
 */
t.test('a Konsul node SIGKILLed during a registration storm loses no acknowledged write', async (t) => {
  const etcd = await startEtcd(t, 3);
  const prefix = uniquePrefix();
  const dir = tempDir(t);
  const node = async (name: string): Promise<KonsulProcess> => {
    const config = join(dir, `${name}.json`);
    writeFileSync(config, JSON.stringify({ store: { etcd: { memberTtl: '2s' } }, dns: { enabled: false } }));
    return startKonsulProcess(t, {
      KONSUL_CONFIG: config,
      KONSUL_STORE: 'etcd',
      KONSUL_ETCD_ENDPOINTS: etcd.endpoints.join(','),
      KONSUL_ETCD_PREFIX: prefix,
      KONSUL_NODE_NAME: name,
      KONSUL_DATA_DIR: join(dir, name),
    });
  };
  const a = await node('a');
  const b = await node('b');

  const acknowledged = new Map<string, string>();
  const counts = { a: 0, b: 0, lost: 0 };
  let stop = false;
  const storm = async (target: KonsulProcess, name: 'a' | 'b', worker: number) => {
    for (let n = 0; !stop; n++) {
      const id = `${name}${worker}-${n}`;
      try {
        const response = await fetch(`http://127.0.0.1:${target.port}/catalog/register`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(web(n, { id })),
          signal: AbortSignal.timeout(10_000),
        });
        await response.text();
        if (response.status === 200) {
          acknowledged.set(id, name);
          counts[name]++;
        }
      } catch {
        // The killed node's connections reset: those writes were never acknowledged.
        counts.lost++;
        if (name === 'a') return;
      }
    }
  };
  const workers = [
    ...Array.from({ length: 6 }, (_, worker) => storm(a, 'a', worker)),
    ...Array.from({ length: 6 }, (_, worker) => storm(b, 'b', worker)),
  ];
  await eventually('both nodes acknowledge writes', () => counts.a >= 100 && counts.b >= 100, 60_000);
  a.child.kill('SIGKILL');
  const { signal } = await a.exited;
  t.equal(signal, 'SIGKILL');
  const ackedByA = counts.a;
  const bBefore = counts.b;
  await eventually('B keeps acknowledging', () => counts.b >= bBefore + 100, 60_000);
  stop = true;
  await Promise.all(workers);
  t.equal(counts.a, ackedByA, 'nothing is acknowledged by a dead node');
  t.comment(`acknowledged: ${counts.a} by a, ${counts.b} by b; ${counts.lost} requests cut off by the kill`);

  // What etcd holds, listed by a fresh node: every acknowledged registration of either node.
  const fresh = await openEtcdCatalog(t, etcd.endpoints, prefix);
  const missing = [...acknowledged.keys()].filter((id) => fresh.instance(id) === undefined);
  t.same(missing, [], 'no registration acknowledged by A or B is missing from etcd');

  // The survivor serves them all, and counts A out once its membership lease runs out.
  const listed = (await (
    await fetch(`http://127.0.0.1:${b.port}/catalog/services/web?health-filter=false`)
  ).json()) as {
    id: string;
  }[];
  const onB = new Set(listed.map((instance) => instance.id));
  t.same(
    [...acknowledged.keys()].filter((id) => !onB.has(id)),
    [],
    'B serves every acknowledged registration',
  );
  await eventually(
    'A leaves the member list within its lease TTL',
    () => (fresh.cluster()?.members.map((member) => member.name) ?? []).join() === 'b',
    15_000,
  );
  t.pass('the member list is B alone');
});

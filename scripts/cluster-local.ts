/**
 * `npm run cluster:local`: three etcd members and three Konsul nodes on loopback ports, every
 * output line prefixed with who wrote it; Ctrl-C stops everything. How a newcomer tries cluster
 * mode in one command. Data lives in a temporary directory removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { EtcdCluster, freePort } from './etcd-members.js';

const NODES = 3;
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const COLORS = ['\x1b[36m', '\x1b[33m', '\x1b[35m', '\x1b[32m', '\x1b[34m', '\x1b[31m'];
const RESET = '\x1b[0m';
const color = process.stdout.isTTY;

function print(who: string, index: number, line: string): void {
  const tag = `[${who}]`.padEnd(9);
  process.stdout.write(color ? `${COLORS[index % COLORS.length]}${tag}${RESET} ${line}\n` : `${tag} ${line}\n`);
}

async function main(): Promise<void> {
  const baseDir = mkdtempSync(join(tmpdir(), 'konsul-cluster-'));
  const konsuls: ChildProcess[] = [];
  let etcd: EtcdCluster | null = null;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    print('cluster', 5, 'stopping');
    for (const child of konsuls) if (child.exitCode === null) child.kill('SIGTERM');
    const exited = konsuls.map(
      (child) =>
        new Promise<void>((resolve) => (child.exitCode === null ? child.once('exit', () => resolve()) : resolve())),
    );
    // Konsul drains in well under 10 s; etcd gets SIGKILL (SIGTERM can hang on an orphaned leader).
    const timer = setTimeout(() => konsuls.forEach((child) => child.kill('SIGKILL')), 10_000);
    void Promise.all(exited).then(() => {
      clearTimeout(timer);
      etcd?.stopAll();
      rmSync(baseDir, { recursive: true, force: true });
      process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  etcd = await EtcdCluster.start({
    size: 3,
    baseDir,
    autoCompactionRetention: '5m',
    detached: true,
    onLine: (member, line) => print(member, 3 + Number(member.slice(-1)), line),
  });
  const endpoints = etcd.endpoints.join(',');
  const faces: { name: string; http: number; dns: number }[] = [];
  for (let i = 0; i < NODES; i++) {
    const name = `k${i + 1}`;
    const [http, dns] = [await freePort(), await freePort()];
    faces.push({ name, http, dns });
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: {
        ...process.env,
        KONSUL_STORE: 'etcd',
        KONSUL_ETCD_ENDPOINTS: endpoints,
        KONSUL_NODE_NAME: name,
        KONSUL_PORT: String(http),
        KONSUL_DNS_PORT: String(dns),
        KONSUL_LOG_LEVEL: process.env.KONSUL_LOG_LEVEL ?? 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group: Ctrl-C reaches this script only, which stops each node once, in order.
      detached: true,
    });
    konsuls.push(child);
    for (const stream of [child.stdout, child.stderr])
      createInterface({ input: stream }).on('line', (line) => print(name, i, line));
    child.once('exit', (code, signal) => {
      print(name, i, `exited (${signal ?? code})`);
      if (!stopping) stop();
    });
  }
  print('cluster', 5, `etcd members: ${endpoints}`);
  for (const face of faces) {
    print(
      'cluster',
      5,
      `${face.name}: http://127.0.0.1:${face.http}  dns 127.0.0.1:${face.dns}  (dig @127.0.0.1 -p ${face.dns} web.service.konsul)`,
    );
  }
  print(
    'cluster',
    5,
    `try: curl -X PUT 127.0.0.1:${faces[0].http}/catalog/register -H 'content-type: application/json' -d '{"name":"web","address":"10.0.0.1","port":8080}'` +
      ` && curl 127.0.0.1:${faces[1].http}/catalog/services/web   (Ctrl-C stops everything)`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`cluster:local could not start: ${(error as Error).message}\n`);
  process.exit(1);
});

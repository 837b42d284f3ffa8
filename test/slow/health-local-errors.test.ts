/**
 * A check run that fails for a reason on this host (no descriptor, buffer or local port left)
 * says nothing about its target: the check keeps its status. Real descriptors run out in a child
 * process started under a small `ulimit -n` (test/fixtures/fd-exhaustion.ts).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { localErrorCode } from '../../src/health/result.js';
import { startHttpTarget, startTcpListener } from '../helpers/health-targets.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/fd-exhaustion.ts', import.meta.url));

interface FixtureReport {
  passedFirst: boolean;
  exhaustedWith: string;
  held: number;
  during: {
    tcp: { status: string; note: string };
    http: { status: string; note: string };
    localErrors: { tcp: number; http: number };
    criticalRuns: number;
  };
  recovered: boolean;
  warned: boolean;
}

function runFixture(
  openFileLimit: number,
  targets: { tcpPort: number; httpPort: number },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // Through bash for `ulimit -n`; NODE_OPTIONS dropped, as tap's hook would open files of its own.
    const command = `unset NODE_OPTIONS; ulimit -n ${openFileLimit}; exec '${process.execPath}' --import tsx '${FIXTURE}'`;
    const child = spawn('bash', ['-c', command], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TCP_TARGET_PORT: String(targets.tcpPort), HTTP_TARGET_PORT: String(targets.httpPort) },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test(
  'EMFILE, ENFILE, ENOBUFS, ENOMEM and EADDRNOTAVAIL are local; refusals, resets and timeouts are not',
  async (t) => {
    for (const code of ['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL'])
      t.equal(localErrorCode(Object.assign(new Error(`connect ${code}`), { code })), code);
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', undefined])
      t.equal(localErrorCode(Object.assign(new Error('x'), { code })), undefined, String(code));
    t.equal(localErrorCode('EMFILE'), undefined, 'only errors carry a code');
  },
);

t.test('with every descriptor taken, passing tcp and http checks stay passing, and recover after', async (t) => {
  const tcp = await startTcpListener(t);
  const http = await startHttpTarget(t);
  const { code, stdout, stderr } = await runFixture(256, { tcpPort: tcp.port, httpPort: http.port });
  t.equal(code, 0, stderr);
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as FixtureReport;
  t.ok(report.passedFirst, 'both checks passed before');
  t.equal(report.exhaustedWith, 'EMFILE', `${report.held} descriptors taken`);
  t.equal(report.during.tcp.status, 'passing', `tcp check kept its status (${report.during.tcp.note})`);
  t.equal(report.during.http.status, 'passing', `http check kept its status (${report.during.http.note})`);
  t.notMatch(report.during.tcp.note, /EMFILE/, 'and its note');
  t.ok(report.during.localErrors.tcp >= 3, `tcp runs counted as local errors: ${report.during.localErrors.tcp}`);
  t.ok(report.during.localErrors.http >= 3, `http runs counted as local errors: ${report.during.localErrors.http}`);
  t.ok(report.during.criticalRuns >= 6, `the runs themselves failed (${report.during.criticalRuns})`);
  t.ok(report.warned, 'a warn line said why');
  t.ok(report.recovered, 'runs pass again once descriptors are free');
});

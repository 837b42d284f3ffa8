/**
 * The DNS server on port 0 starts even when client connections' TIME_WAIT holds nearly every
 * ephemeral port for TCP, as for a minute after a connection flood. It used to take a port for
 * UDP first and then fail to listen on it for TCP, eight times in a row (bench/hostile-dns.ts
 * run after the HTTP connection flood). The ports are filled in a network namespace of the test's
 * own (unshare -n, with a 4,096-port range), so no other test's connections are short of a port.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('../fixtures/dns-bind-after-time-wait.ts', import.meta.url));

interface FixtureReport {
  low: number;
  high: number;
  keep: number;
  filled: number;
  listenOnFilled: string;
  port?: number;
  udpAnswers?: number;
  tcpAnswers?: number;
  error?: string;
}

function runInNamespace(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // tcp_tw_reuse 0: a connection may not take a port over from a TIME_WAIT, so the fill ends
  // when every port of the range is held. The range's size is even because connect() scans
  // `size & ~1` ports from an offset that moves only when a connection succeeds: with an odd
  // size the one port its scan skips can be the last free one, and the fill never reaches it.
  // NODE_OPTIONS dropped, as tap's hook would open files.
  const setup = [
    'unset NODE_OPTIONS',
    'ip link set lo up',
    'echo "40000 44095" > /proc/sys/net/ipv4/ip_local_port_range',
    'echo 0 > /proc/sys/net/ipv4/tcp_tw_reuse',
    `exec '${process.execPath}' --import tsx '${FIXTURE}'`,
  ].join(' && ');
  return new Promise((resolve) => {
    const child = spawn('unshare', ['--net', 'sh', '-c', setup], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => resolve({ code: null, stdout, stderr: `${stderr}${error.message}` }));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('with every ephemeral port but one in TIME_WAIT, DNS on port 0 takes that one and answers', async (t) => {
  const { code, stdout, stderr } = await runInNamespace();
  t.equal(code, 0, `the fixture ran in a network namespace of its own (needs root, unshare and ip): ${stderr}`);
  const report = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as FixtureReport;
  t.ok(report.filled >= report.high - report.low + 1, `every port of the range was filled (${report.filled})`);
  t.equal(report.listenOnFilled, 'EADDRINUSE', 'TCP cannot listen on a port in TIME_WAIT: the setup holds');
  t.equal(report.error, undefined, 'the DNS server started');
  t.equal(report.port, report.keep, 'on the one port TCP could take');
  t.equal(report.udpAnswers, 1, 'answered over UDP');
  t.equal(report.tcpAnswers, 1, 'and over TCP');
});

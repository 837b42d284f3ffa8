import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/catalog.js';
import { startTestKonsul } from '../helpers/konsul.js';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * HAProxy's DNS service discovery against Konsul's DNS face, as HAProxy's documentation sets it
 * up: a `resolvers` section pointing at Konsul and a `server-template` on the RFC 2782 SRV name.
 * HAProxy (2.6 in Debian bookworm; .ci/run installs it) resolves the SRV records and their
 * targets itself; the stats socket shows which addresses and ports it put in its servers.
 */

const HAPROXY_CANDIDATES = ['/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy'];
/** How long HAProxy gets to follow a change: hold valid is 1 s, so a few seconds is ample. */
const FOLLOW_DEADLINE_MS = 6000;

function haproxyConfig(dnsPort: number, dir: string): string {
  return `global
  stats socket ${join(dir, 'admin.sock')} mode 600 level admin
  log stderr format raw local0 warning

defaults
  mode tcp
  timeout connect 1s
  timeout client 5s
  timeout server 5s

resolvers konsul
  nameserver konsul 127.0.0.1:${dnsPort}
  accepted_payload_size 8192
  resolve_retries 3
  timeout resolve 200ms
  timeout retry 200ms
  hold valid 1s
  hold obsolete 0s
  hold nx 1s

# HAProxy will not start without a listener; a unix socket needs no free port.
frontend web_in
  bind unix@${join(dir, 'frontend.sock')}
  default_backend web

backend web
  server-template web 4 _web._tcp.service.konsul resolvers konsul resolve-prefer ipv4 init-addr none
`;
}

/** One command on HAProxy's stats socket; the socket answers and closes. */
function statsCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const connection = createConnection(socket, () => connection.write(`${command}\n`));
    connection.setTimeout(2000, () => connection.destroy(new Error(`no answer to "${command}" in 2 s`)));
    connection.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    connection.on('end', () => resolve(answer));
    connection.on('error', reject);
  });
}

/** `addr:port` of every server of the backend that has an address (the others are in maintenance). */
async function resolvedServers(socket: string): Promise<string[]> {
  const answer = await statsCommand(socket, 'show servers state web');
  const lines = answer.split('\n');
  const header = lines.find((line) => line.startsWith('# be_id'));
  if (header === undefined) throw new Error(`unexpected "show servers state" answer:\n${answer}`);
  const columns = header.slice(2).split(' ');
  const addr = columns.indexOf('srv_addr');
  const port = columns.indexOf('srv_port');
  return (
    lines
      .filter((line) => !line.startsWith('#'))
      .map((line) => line.split(' '))
      // The first line is the format version ("1"); server lines have every column.
      .filter((fields) => fields.length >= columns.length)
      .filter((fields) => fields[addr] !== '-' && fields[addr] !== '0.0.0.0' && fields[addr] !== '::')
      .map((fields) => `${fields[addr]}:${fields[port]}`)
      .sort()
  );
}

/** Polls the stats socket until HAProxy's servers are `expected`, or fails with what it last saw. */
async function until(socket: string, expected: string[], deadlineMs: number): Promise<string[]> {
  const deadline = Date.now() + deadlineMs;
  let seen: string[] = [];
  let lastError: Error | undefined;
  while (Date.now() < deadline) {
    try {
      seen = await resolvedServers(socket);
      if (JSON.stringify(seen) === JSON.stringify(expected)) return seen;
    } catch (error) {
      // The socket appears a moment after HAProxy starts.
      lastError = error as Error;
    }
    // HAProxy is another process with no event to wait on: its stats socket is polled.
    await delay(100);
  }
  throw new Error(
    `HAProxy's servers were ${JSON.stringify(seen)}, not ${JSON.stringify(expected)}, after ${deadlineMs} ms${
      lastError === undefined ? '' : ` (last error: ${lastError.message})`
    }`,
  );
}

t.test('HAProxy server-template follows registrations and deregistrations over Konsul DNS', async (t) => {
  const haproxy = HAPROXY_CANDIDATES.find((path) => existsSync(path));
  if (haproxy === undefined) {
    t.fail(`haproxy is not installed (looked in ${HAPROXY_CANDIDATES.join(', ')}): apt-get install haproxy`);
    return;
  }
  const server = await startTestKonsul(t, { dns: { enabled: true, host: '127.0.0.1' } });
  const register = (id: string, address: string, port: number) =>
    server.app.inject({
      method: 'PUT',
      url: '/v1/agent/service/register',
      payload: { id, name: 'web', address, port },
    });
  t.equal((await register('web-1', '10.0.0.1', 8081)).statusCode, 200);
  t.equal((await register('web-2', '10.0.0.2', 8082)).statusCode, 200);

  const dir = tempDir(t);
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(config, haproxyConfig(server.dns!.port, dir));
  const check = spawn(haproxy, ['-c', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let checkOutput = '';
  check.stdout.on('data', (chunk: Buffer) => (checkOutput += chunk.toString()));
  check.stderr.on('data', (chunk: Buffer) => (checkOutput += chunk.toString()));
  const checked = await new Promise<number | null>((resolve) => check.on('exit', resolve));
  t.equal(checked, 0, `haproxy -c accepts the configuration\n${checkOutput}`);

  // -db: stay in the foreground, so the child is HAProxy itself and teardown can stop it.
  const child = spawn(haproxy, ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(killer);
    }
  });
  const socket = join(dir, 'admin.sock');

  try {
    t.same(
      await until(socket, ['10.0.0.1:8081', '10.0.0.2:8082'], FOLLOW_DEADLINE_MS),
      ['10.0.0.1:8081', '10.0.0.2:8082'],
      'both registered instances, with their ports from the SRV records',
    );
    const deregistered = await server.app.inject({ method: 'PUT', url: '/v1/agent/service/deregister/web-1' });
    t.equal(deregistered.statusCode, 200);
    t.equal((await register('web-3', '10.0.0.3', 8083)).statusCode, 200);
    t.same(
      await until(socket, ['10.0.0.2:8082', '10.0.0.3:8083'], FOLLOW_DEADLINE_MS),
      ['10.0.0.2:8082', '10.0.0.3:8083'],
      'the deregistered instance is gone and the new one is in',
    );
  } catch (error) {
    t.fail(`${String(error)}\nHAProxy said:\n${output}`);
  }
});

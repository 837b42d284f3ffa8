import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { tempDir } from '../helpers/catalog.js';
import { startTestKonsul } from '../helpers/konsul.js';

/**
 * The curl lines of Consul's HTTP API docs, pointed at Konsul's port. curl's `--data @file`
 * sends application/x-www-form-urlencoded, which Consul reads as JSON anyway: so must Konsul.
 */

const run = promisify(execFile);

/** Runs curl with the docs' arguments and answers { status, body }. */
async function curl(...args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['--silent', '--show-error', '--write-out', '\n%{http_code}', ...args], {
    timeout: 10_000,
  });
  const split = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(split + 1)), body: stdout.slice(0, split) };
}

// The payload of "Register Service" in Consul's agent/service docs, with its script check
// (Args) replaced by the TTL check of the same docs, since Konsul runs no scripts.
const REDIS = {
  ID: 'redis1',
  Name: 'redis',
  Tags: ['primary', 'v1'],
  Address: '127.0.0.1',
  Port: 8000,
  Meta: { redis_version: '4.0' },
  EnableTagOverride: false,
  Check: { DeregisterCriticalServiceAfter: '90m', TTL: '15s' },
  Weights: { Passing: 10, Warning: 1 },
};

t.test(
  'the register, check, catalog, health and deregister curl lines of the Consul docs work against Konsul',
  async (t) => {
    const server = await startTestKonsul(t);
    const base = `http://127.0.0.1:${server.httpPort}`;
    const payload = join(tempDir(t), 'payload.json');
    writeFileSync(payload, JSON.stringify(REDIS));

    t.same(
      await curl(
        '--request',
        'PUT',
        '--data',
        `@${payload}`,
        `${base}/v1/agent/service/register?replace-existing-checks=true`,
      ),
      { status: 200, body: '' },
    );
    t.same(await curl('--request', 'PUT', `${base}/v1/agent/check/pass/service:redis1`), { status: 200, body: '' });

    const services = await curl(`${base}/v1/agent/services`);
    t.equal(services.status, 200);
    t.match(JSON.parse(services.body), {
      redis1: {
        ID: 'redis1',
        Service: 'redis',
        Tags: ['primary', 'v1'],
        Port: 8000,
        Weights: { Passing: 10, Warning: 1 },
        Meta: { redis_version: '4.0' },
      },
    });

    const nodes = await curl(`${base}/v1/catalog/service/redis?tag=primary`);
    t.equal(nodes.status, 200);
    t.match(JSON.parse(nodes.body), [{ ServiceID: 'redis1', ServiceAddress: '127.0.0.1', ServicePort: 8000 }]);

    const healthy = await curl('--include', `${base}/v1/health/service/redis?passing`);
    t.match(healthy.body, /^HTTP\/1\.1 200/);
    t.match(healthy.body, /\r\nx-consul-index: \d+\r\n/i);
    t.match(healthy.body, /\r\nx-consul-knownleader: true\r\n/i);
    t.match(JSON.parse(healthy.body.slice(healthy.body.indexOf('\r\n\r\n') + 4)), [
      {
        Service: { ID: 'redis1' },
        Checks: [{ CheckID: 'service:redis1', Status: 'passing' }, { CheckID: 'serfHealth' }],
      },
    ]);

    t.same(await curl(`${base}/v1/status/leader`), { status: 200, body: '"127.0.0.1:8300"' });
    t.same(await curl('--request', 'PUT', `${base}/v1/agent/service/deregister/redis1`), { status: 200, body: '' });
    t.same(await curl(`${base}/v1/health/service/redis`), { status: 200, body: '[]' });
  },
);

t.test(
  'curl sees Consul errors as plain text: the docs payload with a script check, a GET on a PUT endpoint',
  async (t) => {
    const server = await startTestKonsul(t);
    const base = `http://127.0.0.1:${server.httpPort}`;
    const payload = join(tempDir(t), 'payload.json');
    writeFileSync(
      payload,
      JSON.stringify({ ...REDIS, Check: { Args: ['/usr/local/bin/check_redis.py'], Interval: '10s', Timeout: '5s' } }),
    );
    t.same(await curl('--request', 'PUT', '--data', `@${payload}`, `${base}/v1/agent/service/register`), {
      status: 400,
      body: 'Invalid check: Check.Args: Konsul runs HTTP, TCP and TTL checks only',
    });
    t.same(await curl('--request', 'POST', `${base}/v1/agent/service/deregister/redis1`), {
      status: 405,
      body: 'method POST not allowed',
    });
    // GET is tolerated on this write for python-consul 0.7 (as Consul before 1.0 did), never from a browser.
    t.same(await curl('--header', 'Sec-Fetch-Mode: no-cors', `${base}/v1/agent/service/deregister/redis1`), {
      status: 405,
      body: 'method GET not allowed',
    });
  },
);

import t from 'tap';
import { request } from 'node:http';
import { tempDir } from '../helpers/catalog.js';
import { runKonsul, startKonsulProcess } from '../helpers/process.js';

function http(port: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
        agent: false,
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

t.test('every registration acknowledged before a SIGKILL is there after a restart', async (t) => {
  const dataDir = tempDir(t);
  const env = { KONSUL_DATA_DIR: dataDir };
  const first = await startKonsulProcess(t, env);
  const acknowledged: string[] = [];
  let sent = 0;
  let killed = false;
  // Eight writers keep registrations in flight; the kill lands in the middle of them.
  const writer = async () => {
    while (!killed) {
      const id = `crash-${sent++}`;
      try {
        const response = await http(first.port, 'PUT', '/catalog/register', {
          id,
          name: 'crash',
          address: '10.1.0.1',
          port: 1000 + (sent % 60000),
        });
        if (response.status === 200) acknowledged.push(id);
      } catch {
        return; // the connection died with the process: that write was never acknowledged
      }
    }
  };
  const writers = Array.from({ length: 8 }, writer);
  while (acknowledged.length < 300) await new Promise((resolve) => setTimeout(resolve, 5));
  first.child.kill('SIGKILL');
  killed = true;
  await first.exited;
  await Promise.all(writers);
  t.ok(acknowledged.length >= 300, `${acknowledged.length} registrations were acknowledged before the kill`);

  const second = await startKonsulProcess(t, env);
  const listed = await http(second.port, 'GET', '/catalog/services/crash?health-filter=false');
  const present = new Set((JSON.parse(listed.body) as { id: string }[]).map((instance) => instance.id));
  const lost = acknowledged.filter((id) => !present.has(id));
  t.same(lost, [], 'no acknowledged registration was lost');
  second.child.kill('SIGTERM');
  t.match(await second.exited, { code: 0 });
});

t.test('SIGTERM answers a held blocking query, closes the database and exits 0', async (t) => {
  const konsul = await startKonsulProcess(t, { KONSUL_DATA_DIR: tempDir(t) });
  const registered = await http(konsul.port, 'PUT', '/catalog/register', {
    name: 'web',
    address: '10.0.0.1',
    port: 80,
  });
  const { index } = JSON.parse(registered.body) as { index: number };
  const held = http(konsul.port, 'GET', `/catalog/services/web?index=${index}&wait=5m`);
  // Signal only once the query is parked in the child; a fixed pause could lose that race on a
  // slow machine and test an unparsed request instead.
  for (let tries = 0; ; tries++) {
    const metrics = await http(konsul.port, 'GET', '/metrics');
    if (/^konsul_blocking_queries 1$/m.test(metrics.body)) break;
    if (tries === 400) throw new Error('the blocking query never parked');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  konsul.child.kill('SIGTERM');
  const answer = await held;
  t.equal(answer.status, 200, 'the blocking query was answered, not cut');
  t.equal((JSON.parse(answer.body) as unknown[]).length, 1);
  t.match(await konsul.exited, { code: 0 });
  t.ok(
    konsul.lines.some((line) => line.includes('konsul stopped')),
    'it logged its stop',
  );
});

t.test('the start-up line names the ports, the data file, the version and the strategies', async (t) => {
  const dataDir = tempDir(t);
  const konsul = await startKonsulProcess(t, { KONSUL_DATA_DIR: dataDir });
  const line = konsul.lines.find((candidate) => candidate.includes('listening on http'))!;
  const parsed = JSON.parse(line) as Record<string, unknown>;
  t.match(parsed, {
    version: String,
    http: `127.0.0.1:${konsul.port}`,
    dataFile: new RegExp(`${dataDir}/konsul\\.db$`),
    strategies: Array,
  });
  t.match(parsed.dns, /127\.0\.0\.1:\d+/);
  t.equal(
    konsul.lines.filter((candidate) => candidate.includes('listening on http')).length,
    1,
    'exactly one start-up line',
  );
  t.equal(konsul.lines.indexOf(line), 0, 'and nothing logged before it');
});

t.test('invalid config stops start-up with one line naming the key, and a non-zero exit', async (t) => {
  const result = await runKonsul({ KONSUL_DATA_DIR: tempDir(t), KONSUL_PORT: 'eighty' });
  t.not(result.code, 0);
  t.equal(result.stderr.trim().split('\n').length, 1, 'one line');
  t.match(result.stderr, /KONSUL_PORT must be a port number/);
  t.notMatch(result.stderr, /\n\s+at /, 'no stack trace');
});

t.test('a port already in use stops start-up with one clear line', async (t) => {
  const dataDir = tempDir(t);
  const first = await startKonsulProcess(t, { KONSUL_DATA_DIR: dataDir });
  const result = await runKonsul({
    KONSUL_DATA_DIR: tempDir(t),
    KONSUL_PORT: String(first.port),
    KONSUL_DNS_PORT: '0',
  });
  t.not(result.code, 0);
  t.match(result.stderr, /could not start: address already in use/);
  t.notMatch(result.stderr, /\n\s+at /);
});

/**
 * Hardening, faults: a database that refuses writes, health-check targets that misbehave, and
 * SIGTERM in the middle of load. Each fault is real: a file-size limit on the real command,
 * real sockets that hang, reset or never stop sending, a real signal.
 *
 * The command runs from a bundle of src/main.ts (bundleKonsulCommand: the same code, started
 * in a fraction of the time the tsx loader takes on a busy machine).
 */
import t from 'tap';
import { tempDir } from '../helpers/catalog.js';
import {
  bundleKonsulCommand,
  httpCall,
  startFaultTarget,
  startKonsulChild,
  type HttpAnswer,
} from '../helpers/fault-targets.js';
import { startTestKonsul } from '../helpers/konsul.js';
import { seeded } from '../helpers/seeded.js';

interface ErrorBody {
  error: { code: string; message: string };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let bundled: Promise<readonly string[]> | undefined;
/** The command's argv, bundled once for the whole file. */
const konsulCommand = () => (bundled ??= bundleKonsulCommand(t));

/** Instance ids a listing holds. */
async function idsOf(port: number, service: string): Promise<Set<string>> {
  const answer = await httpCall(port, 'GET', `/catalog/services/${service}?health-filter=false`);
  return new Set((JSON.parse(answer.body) as { id: string }[]).map((instance) => instance.id));
}

t.test(
  'when the database refuses writes, each write is a 503 storage_unavailable, reads go on, and nothing acknowledged is lost',
  async (t) => {
    const dataDir = tempDir(t);
    // 400 KiB: start-up and a few dozen registrations fit in the WAL; then every write hits EFBIG.
    const limited = await startKonsulChild(
      t,
      { KONSUL_DATA_DIR: dataDir },
      { argv: await konsulCommand(), fileSizeLimitKb: 400 },
    );
    const acknowledged: string[] = [];
    const refused: string[] = [];
    const other: string[] = [];
    let next = 0;
    // Four writers, so failures hit group commits of several writes too.
    const writer = async () => {
      while (refused.length < 40 && next < 2000) {
        const id = `full-${next++}`;
        const answer = await httpCall(limited.port, 'PUT', '/catalog/register', {
          id,
          name: 'full',
          address: '10.2.0.1',
          port: 1 + (next % 60000),
          meta: { pad: 'p'.repeat(500) },
          tags: Array.from({ length: 8 }, (_, i) => `tag-${i}-${'t'.repeat(40)}`),
        });
        if (answer.status === 200) acknowledged.push(id);
        else if (answer.status === 503 && (JSON.parse(answer.body) as ErrorBody).error.code === 'storage_unavailable')
          refused.push(id);
        else other.push(`${id}: ${answer.status} ${answer.body}`);
      }
    };
    await Promise.all(Array.from({ length: 4 }, writer));
    t.ok(acknowledged.length >= 5, `${acknowledged.length} registrations were acknowledged before the limit`);
    t.ok(refused.length >= 40, `${refused.length} were refused once writes failed`);
    t.same(other, [], 'every answer was a 200 or a 503 storage_unavailable');

    // A write that touches fewer pages than the one refused before it can still fit under the
    // limit, so a small write may go through: keep writing until one is refused, and count any
    // that went through as acknowledged.
    let sample: Awaited<ReturnType<typeof httpCall>>;
    for (let attempt = 0; ; attempt++) {
      const id = `one-more-${attempt}`;
      sample = await httpCall(limited.port, 'PUT', '/catalog/register', {
        id,
        name: 'full',
        address: '10.2.0.1',
        port: 1,
      });
      (sample.status === 200 ? acknowledged : refused).push(id);
      if (sample.status !== 200 || attempt === 50) break;
    }
    t.equal(sample.status, 503);
    t.same(Object.keys(JSON.parse(sample.body) as object), ['error']);
    t.match(
      JSON.parse(sample.body),
      { error: { code: 'storage_unavailable', message: /could not be written/ } },
      'in the standard shape',
    );
    // Likewise for removals: one that fits is a removal that happened.
    let removal = await httpCall(limited.port, 'DELETE', `/catalog/instances/${acknowledged[0]}`);
    for (let attempt = 1; removal.status === 200 && attempt < acknowledged.length; attempt++) {
      acknowledged.shift();
      removal = await httpCall(limited.port, 'DELETE', `/catalog/instances/${acknowledged[0]}`);
    }
    t.equal(removal.status, 503, 'a removal is refused the same way');

    // A sustained disk-full condition logs a warn line per refused write, never a stack trace each.
    const refusalLines = limited.lines.filter((line) => line.includes('storage_unavailable'));
    t.ok(refusalLines.length > 0, 'refusals are logged');
    t.ok(
      refusalLines.every((line) => (JSON.parse(line) as { level: number }).level === 40 && !line.includes('"stack"')),
      'at warn level, without a stack',
    );
    t.ok(
      refusalLines.every((line) => typeof (JSON.parse(line) as { reqId?: unknown }).reqId === 'string'),
      'each bound to its request id',
    );
    t.equal((await httpCall(limited.port, 'GET', '/health/live')).status, 200, 'the process is alive');
    const listed = await idsOf(limited.port, 'full');
    t.same([...listed].sort(), [...acknowledged].sort(), 'reads answer, with exactly the acknowledged instances');
    t.equal(limited.child.exitCode, null, 'the server did not exit');
    limited.child.kill('SIGTERM');
    t.match(await limited.exited, { code: 0 }, 'it still shuts down cleanly');

    const restarted = await startKonsulChild(t, { KONSUL_DATA_DIR: dataDir }, { argv: await konsulCommand() });
    const present = await idsOf(restarted.port, 'full');
    t.same(
      acknowledged.filter((id) => !present.has(id)),
      [],
      'every acknowledged registration survived the restart',
    );
    t.same(
      refused.filter((id) => present.has(id)),
      [],
      'no refused registration appeared',
    );
    const fresh = await httpCall(restarted.port, 'PUT', '/catalog/register', {
      id: 'after',
      name: 'full',
      address: '10.2.0.1',
      port: 2,
    });
    t.equal(fresh.status, 200, 'without the limit, writes succeed again');
    restarted.child.kill('SIGTERM');
    await restarted.exited;
  },
);

t.test(
  'http checks against targets that hang, reset or never stop sending resolve within their timeout while the server stays responsive',
  async (t) => {
    // The checks below run every 500 ms; the default health.minInterval (1 s) would stretch them.
    const server = await startTestKonsul(t, { health: { minInterval: '100ms' } });
    const hang = await startFaultTarget(t, 'hang');
    const reset = await startFaultTarget(t, 'reset');
    const endlessError = await startFaultTarget(t, 'endless', { status: 503 });
    const endlessOk = await startFaultTarget(t, 'endless', { status: 200 });
    const targets = [
      { id: 'hang', url: hang.url, expect: 'critical', note: /timed out after 300ms/ },
      { id: 'reset', url: reset.url, expect: 'critical', note: /ECONNRESET|reset|socket hang up/i },
      { id: 'endless-503', url: endlessError.url, expect: 'critical', note: /503/ },
      // The status code decides (as in Consul); the endless body only costs outputBytes of note.
      { id: 'endless-200', url: endlessOk.url, expect: 'passing', note: /200/ },
    ] as const;
    // Several instances per target so the misbehaviour is concurrent, and every check starts on
    // the status it must leave (passing for the failing ones, critical for the passing one).
    const copies = 5;
    for (const target of targets) {
      for (let copy = 0; copy < copies; copy++) {
        const registered = await server.app.inject({
          method: 'PUT',
          url: '/catalog/register',
          payload: {
            id: `${target.id}-${copy}`,
            name: target.id,
            address: '127.0.0.1',
            port: 1000 + copy,
            checks: [
              {
                id: `${target.id}-${copy}`,
                type: 'http',
                http: target.url,
                interval: '500ms',
                timeout: '300ms',
                status: target.expect === 'critical' ? 'passing' : 'critical',
              },
            ],
          },
        });
        t.equal(registered.statusCode, 200);
      }
    }
    const started = performance.now();
    const latencies: number[] = [];
    const settled = () =>
      targets.every((target) =>
        Array.from({ length: copies }, (_, copy) => server.catalog.findCheck(`${target.id}-${copy}`)?.check).every(
          (check) => check?.status === target.expect && target.note.test(check.note),
        ),
      );
    // While the checks run, the HTTP face answers promptly over a real socket.
    while (!settled() && performance.now() - started < 8000) {
      const answer = await httpCall(server.httpPort, 'GET', '/catalog/service-names', undefined, { timeoutMs: 2000 });
      t.equal(answer.status, 200);
      latencies.push(answer.ms);
      await sleep(20);
    }
    const elapsed = performance.now() - started;
    for (const target of targets) {
      for (let copy = 0; copy < copies; copy++) {
        const check = server.catalog.findCheck(`${target.id}-${copy}`)?.check;
        t.match(
          check,
          { status: target.expect, note: target.note },
          `${target.id}-${copy} is ${target.expect}: ${check?.note.slice(0, 100)}`,
        );
      }
    }
    // The checks above settled within the loop's cap; how long it took is reported, not bounded,
    // because a loaded CI machine stretches it. A loop blocked by a hung or endless target would
    // show as requests held for seconds, so the typical request is bounded tightly and the worst
    // one (a single scheduling stall) loosely.
    t.comment(`every check settled in ${Math.round(elapsed)} ms`);
    const sorted = [...latencies].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    t.ok(
      sorted.length > 0 && median < 250,
      `half the requests answered within ${Math.round(median)} ms while the checks ran`,
    );
    t.ok(
      sorted.length > 0 && sorted[sorted.length - 1] < 2000,
      `every request answered within ${Math.round(sorted[sorted.length - 1])} ms`,
    );
    const endlessNote = server.catalog.findCheck('endless-200-0')!.check.note;
    t.ok(
      Buffer.byteLength(endlessNote) <= 4096 + 200,
      `the endless body was cut at outputBytes (${Buffer.byteLength(endlessNote)} bytes of note)`,
    );
    // Let a few more rounds run, then the checks have held nothing open past their timeouts.
    await sleep(700);
    const sockets = { hang: hang.open, endless503: endlessError.open, endless200: endlessOk.open };
    t.ok(
      sockets.hang <= copies && sockets.endless503 <= copies && sockets.endless200 <= copies,
      `at most one connection per check is open at a time: ${JSON.stringify(sockets)}`,
    );
    t.ok(hang.accepted >= copies * 2, `hung checks were retried on schedule (${hang.accepted} connections)`);
    const ready = await httpCall(server.httpPort, 'GET', '/health/ready');
    t.equal(ready.status, 200);
  },
);

t.test(
  'SIGTERM during concurrent load: every request completes or fails cleanly, the exit is 0 and no acknowledged write is lost',
  async (t) => {
    const dataDir = tempDir(t);
    const konsul = await startKonsulChild(t, { KONSUL_DATA_DIR: dataDir }, { argv: await konsulCommand() });
    const rng = seeded(0x51697e);
    const acknowledged: string[] = [];
    const outcomes = { ok: 0, unavailable: 0, connectionErrors: 0 };
    const bad: string[] = [];
    let stopped = false;
    let counter = 0;
    const worker = async (slot: number) => {
      for (let round = 0; round < 5000 && !stopped; round++) {
        const write = rng.chance(0.5);
        const id = `term-${slot}-${counter++}`;
        let answer: HttpAnswer;
        try {
          answer = write
            ? await httpCall(
                konsul.port,
                'PUT',
                '/catalog/register',
                { id, name: 'term', address: '10.3.0.1', port: 1 + (counter % 60000) },
                { timeoutMs: 5000 },
              )
            : await httpCall(
                konsul.port,
                'GET',
                rng.pick([
                  '/catalog/services/term?lb=random',
                  '/catalog/service-names',
                  '/catalog/services?tag=x',
                  '/health/ready',
                ]),
                undefined,
                { timeoutMs: 5000 },
              );
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ETIMEDOUT_TEST') bad.push(`${write ? 'PUT' : 'GET'} hung`);
          else outcomes.connectionErrors++;
          // Once the listener is gone every new connection is refused: this worker is done.
          if (code === 'ECONNREFUSED') return;
          continue;
        }
        if (answer.status >= 200 && answer.status < 300) {
          outcomes.ok++;
          if (write) acknowledged.push(id);
        } else if (answer.status === 503) {
          outcomes.unavailable++;
        } else {
          bad.push(`${write ? 'PUT' : 'GET'} ${answer.status} ${answer.body.slice(0, 120)}`);
        }
      }
    };
    const workers = Array.from({ length: 20 }, (_, slot) => worker(slot));
    while (acknowledged.length < 200) await sleep(5);
    konsul.child.kill('SIGTERM');
    const exit = await konsul.exited;
    stopped = true;
    await Promise.all(workers);

    t.same(bad, [], 'no request hung and none got anything but 2xx, 503 or a connection error');
    t.ok(outcomes.ok >= 200, `outcomes: ${JSON.stringify(outcomes)}`);
    t.match(exit, { code: 0, signal: null }, 'the process exited 0');
    t.ok(
      konsul.lines.some((line) => line.includes('konsul stopped')),
      'after logging its stop',
    );

    const restarted = await startKonsulChild(t, { KONSUL_DATA_DIR: dataDir }, { argv: await konsulCommand() });
    const present = await idsOf(restarted.port, 'term');
    t.same(
      acknowledged.filter((id) => !present.has(id)),
      [],
      `all ${acknowledged.length} acknowledged registrations are there after a restart`,
    );
    restarted.child.kill('SIGTERM');
    await restarted.exited;
  },
);

/**
 * What the konsul/client tests share: HTTP targets registered in a real in-process Konsul,
 * and a client on a virtual clock that is closed when the test ends.
 */
import { Konsul, type KonsulOptions, type KonsulRuntime } from '../../src/client/index.js';
import { startHttpTarget, type HttpTarget, type TestContext } from './health-targets.js';
import type { TestKonsul } from './konsul.js';
import { VirtualClock } from './virtual-clock.js';

export function konsulUrl(server: { httpPort: number }): string {
  return `http://127.0.0.1:${server.httpPort}`;
}

/** PUT /catalog/register for a target on 127.0.0.1, through the real HTTP API. */
export async function registerTarget(
  server: { httpPort: number },
  service: string,
  id: string,
  port: number,
  extra: { tags?: string[]; weight?: number } = {},
): Promise<void> {
  const response = await fetch(`${konsulUrl(server)}/catalog/register`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, name: service, address: '127.0.0.1', port, ...extra }),
  });
  if (response.status !== 200) throw new Error(`register ${id}: ${response.status} ${await response.text()}`);
}

export async function deregister(server: { httpPort: number }, id: string): Promise<void> {
  const response = await fetch(`${konsulUrl(server)}/catalog/instances/${id}`, { method: 'DELETE' });
  if (response.status !== 200) throw new Error(`deregister ${id}: ${response.status} ${await response.text()}`);
}

export interface Targets {
  byId: Map<string, HttpTarget>;
  /** Requests each target has received so far, by instance id. */
  counts(): Record<string, number>;
}

/** `n` HTTP targets answering 200 `<id>`, registered as `service` with ids `<service>-1`…. */
export async function startTargets(t: TestContext, server: TestKonsul, service: string, n: number): Promise<Targets> {
  const byId = new Map<string, HttpTarget>();
  for (let i = 1; i <= n; i++) {
    const id = `${service}-${i}`;
    const target = await startHttpTarget(t, { kind: 'status', status: 200, body: id });
    await registerTarget(server, service, id, target.port);
    byId.set(id, target);
  }
  return {
    byId,
    counts: () => Object.fromEntries([...byId].map(([id, target]) => [id, target.requests.length])),
  };
}

export interface TestClient {
  konsul: Konsul;
  clock: VirtualClock;
}

/** A client on a virtual clock and a fixed seed, without signal handlers; closed in teardown. */
export function startClient(
  t: TestContext,
  urls: string[],
  options: Partial<KonsulOptions> & KonsulRuntime = {},
): TestClient {
  const clock = options.clock instanceof VirtualClock ? options.clock : new VirtualClock();
  const konsul = new Konsul({ urls, clock, seed: 7, handleSignals: false, ...options });
  // A test that checks what close() reports has seen it already; teardown only releases.
  t.teardown(() => konsul.close().catch(() => undefined));
  return { konsul, clock };
}

/** The body of a response, which is the id of the target that answered. */
export async function answeredBy(response: Response): Promise<string> {
  return response.text();
}

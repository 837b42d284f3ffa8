/**
 * A small HTTP client on node:http for set-up work and for the watcher benchmark, where
 * thousands of sockets must stay open at once (autocannon drives the throughput runs).
 */
import { Agent, request } from 'node:http';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface SendOptions {
  method?: string;
  /** Sent as JSON with content-type application/json. */
  json?: unknown;
  agent?: Agent;
  timeoutMs?: number;
}

export function send(url: string, options: SendOptions = {}): Promise<HttpAnswer> {
  const payload = options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json));
  return new Promise((resolveAnswer, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        agent: options.agent,
        headers:
          payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(payload.length) },
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolveAnswer({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out: ${options.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Like send(), but a non-2xx answer is an error naming the body. */
export async function sendOk(url: string, options: SendOptions = {}): Promise<HttpAnswer> {
  const answer = await send(url, options);
  if (answer.status < 200 || answer.status > 299) {
    throw new Error(
      `${options.method ?? 'GET'} ${url} answered ${answer.status}: ${answer.body.toString().slice(0, 300)}`,
    );
  }
  return answer;
}

export interface Registration {
  id?: string;
  name: string;
  address: string;
  port: number;
  weight?: number;
  region?: string;
  checks?: unknown[];
}

/**
 * PUTs `count` registrations with `concurrency` requests in flight over keep-alive sockets;
 * calls `progress` every `progressEvery` acknowledgements. Stops at the first failure.
 */
export async function registerMany(
  baseUrl: string,
  count: number,
  make: (i: number) => Registration,
  options: { concurrency?: number; progressEvery?: number; progress?: (done: number) => void; path?: string } = {},
): Promise<void> {
  const concurrency = options.concurrency ?? 32;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const url = `${baseUrl}${options.path ?? '/catalog/register'}`;
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await sendOk(url, { method: 'PUT', json: make(i), agent });
      done++;
      if (options.progress !== undefined && options.progressEvery !== undefined && done % options.progressEvery === 0)
        options.progress(done);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } finally {
    agent.destroy();
  }
}

/** One sample from GET /metrics: the value of every unlabelled series whose name is asked for. */
export async function scrapeMetrics(
  baseUrl: string,
  names: readonly string[],
): Promise<Partial<Record<string, number>>> {
  const text = (await sendOk(`${baseUrl}/metrics`)).body.toString();
  const values: Partial<Record<string, number>> = {};
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space < 0 || line.startsWith('#')) continue;
    const name = line.slice(0, space);
    if (names.includes(name)) values[name] = Number(line.slice(space + 1));
  }
  return values;
}

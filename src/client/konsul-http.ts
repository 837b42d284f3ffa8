/**
 * Calls to Konsul's HTTP API, with fail-over between the configured URLs (cluster mode): a
 * call that cannot reach a node, or that the node answers with a 5xx, moves the client to
 * the next URL for the calls that follow. Every call has a timeout on the injected clock and
 * is aborted by close(), so nothing the client started outlives it.
 */
import type { Clock, TimerHandle } from '../clock.js';
import { ClientErrors, KonsulClientError } from './errors.js';

export interface KonsulAnswer {
  status: number;
  /** X-Konsul-Index, or undefined when the answer had none. */
  index: number | undefined;
  /** The parsed JSON body, or undefined when there was none. */
  body: unknown;
  /** The URL that answered. */
  url: string;
}

export interface KonsulCall {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  path: string;
  body?: unknown;
  timeoutMs: number;
}

/** Konsul bodies are small (a service's instances); a bigger answer is refused rather than buffered. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

export class KonsulHttp {
  private current = 0;
  private closed = false;
  private readonly inFlight = new Set<AbortController>();
  private readonly headers: Record<string, string>;

  constructor(
    private readonly urls: readonly string[],
    token: string | undefined,
    private readonly clock: Clock,
  ) {
    this.headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
  }

  /** The node the next call goes to. */
  get url(): string {
    return this.urls[this.current];
  }

  /**
   * One call to the current node. Throws konsul_unavailable when it cannot be reached, times out
   * or answers 5xx (and moves on to the next node), konsul_refused for a 4xx (the caller decides:
   * a 404 on a heartbeat means "register again").
   */
  async call(call: KonsulCall): Promise<KonsulAnswer> {
    if (this.closed) throw ClientErrors.closed();
    const url = this.url;
    const controller = new AbortController();
    this.inFlight.add(controller);
    const timer: TimerHandle = this.clock.setTimeout(() => controller.abort(), call.timeoutMs);
    try {
      const headers: Record<string, string> = { ...this.headers };
      if (call.body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(url + call.path, {
        method: call.method,
        headers,
        signal: controller.signal,
        ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
      });
      const text = await readCapped(response);
      const indexHeader = response.headers.get('x-konsul-index');
      const index = indexHeader !== null && /^\d+$/.test(indexHeader) ? Number(indexHeader) : undefined;
      const body: unknown = text === '' ? undefined : JSON.parse(text);
      if (response.status >= 500) {
        this.failOver(url);
        throw ClientErrors.konsulUnavailable(`${url} answered ${response.status}`);
      }
      if (response.status >= 400) {
        const error = errorOf(body);
        throw ClientErrors.konsulRefused(response.status, error.code, error.message);
      }
      return { status: response.status, index, body, url };
    } catch (error) {
      if (error instanceof KonsulClientError) throw error;
      if (this.isClosed()) throw ClientErrors.closed();
      this.failOver(url);
      const detail = controller.signal.aborted ? `${url} did not answer within ${call.timeoutMs} ms` : describe(error);
      throw ClientErrors.konsulUnavailable(detail);
    } finally {
      this.clock.clearTimeout(timer);
      this.inFlight.delete(controller);
    }
  }

  /** Aborts every call in flight; later calls throw `closed`. */
  close(): void {
    this.closed = true;
    for (const controller of this.inFlight) controller.abort();
    this.inFlight.clear();
  }

  /** A method, not the field: a call awaited in between may have closed the client. */
  private isClosed(): boolean {
    return this.closed;
  }

  /** Moves to the next node, unless another call already did since this one started. */
  private failOver(failedUrl: string): void {
    if (this.urls[this.current] === failedUrl) this.current = (this.current + 1) % this.urls.length;
  }
}

/** The body as text, read in chunks so a body without Content-Length is held to the limit too. */
async function readCapped(response: Response): Promise<string> {
  const body = response.body;
  if (body === null) return '';
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  // Leaving a for-await early cancels the stream.
  for await (const value of body as AsyncIterable<Uint8Array>) {
    bytes += value.byteLength;
    if (bytes > MAX_ANSWER_BYTES) throw new Error(`answer is over the client's ${MAX_ANSWER_BYTES}-byte limit`);
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function errorOf(body: unknown): { code: string; message: string } {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return {
    code: typeof error?.code === 'string' ? error.code : 'unknown',
    message: typeof error?.message === 'string' ? error.message : '',
  };
}

/** undici reports "fetch failed" and puts the reason (ECONNREFUSED, …) in `cause`. */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause !== undefined && typeof cause === 'object') {
    if (typeof cause.code === 'string') return `${error.message} (${cause.code})`;
    if (typeof cause.message === 'string') return `${error.message} (${cause.message})`;
  }
  return error.message;
}

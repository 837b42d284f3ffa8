import http from 'node:http';
import https from 'node:https';
import type { HealthStatus } from '../catalog/types.js';
import { systemClock, type Timers } from '../clock.js';
import { runProbe } from './probe-run.js';
import type { CheckResult } from './result.js';

/** An http check's request, built once at registration. */
export interface HttpTarget {
  url: URL;
  /** `HTTP GET http://host/path`, with any password in the URL hidden: the prefix of every note. */
  label: string;
  secure: boolean;
  options: http.RequestOptions;
}

const DEFAULT_HEADERS: Readonly<Record<string, string>> = {
  'user-agent': 'Konsul Health Check',
  accept: 'text/plain, text/*, */*',
};

export function httpTarget(
  urlText: string,
  method: string,
  headers: Readonly<Record<string, string>> | undefined,
): HttpTarget {
  const url = new URL(urlText);
  const shown = new URL(url);
  if (shown.password !== '') shown.password = '***';
  const merged: Record<string, string> = { ...DEFAULT_HEADERS };
  // Header names are case-insensitive; the check's own headers replace the defaults.
  for (const [name, value] of Object.entries(headers ?? {})) merged[name.toLowerCase()] = value;
  return {
    url,
    label: `HTTP ${method} ${shown.href}`,
    secure: url.protocol === 'https:',
    options: { method, headers: merged },
  };
}

/**
 * 2xx is passing and 429 Too Many Requests is warning (the service is up but shedding load), as
 * in Consul. Everything else is critical, 3xx included: redirects are not followed, because a
 * redirect to a login or error page that answers 200 would pass a broken service.
 */
export function statusForCode(code: number): HealthStatus {
  if (code >= 200 && code < 300) return 'passing';
  return code === 429 ? 'warning' : 'critical';
}

/**
 * Runs http checks. Every request opens a fresh connection (no keep-alive, as Consul's checks
 * do): a pooled socket would pass a check while the service no longer accepts connections.
 */
export class HttpProber {
  private readonly httpAgent = new http.Agent({ keepAlive: false });
  private readonly httpsAgent = new https.Agent({ keepAlive: false });

  constructor(
    private readonly outputBytes: number,
    private readonly timers: Timers = systemClock,
    /** In a cluster, sent as X-Konsul-Node so a target's access log tells which node probed it. */
    private readonly node: string | null = null,
  ) {}

  /**
   * Resolves (never rejects) once the status code and up to outputBytes of the body are in, or
   * at the timeout, or when `signal` aborts, and the socket has closed. The socket is destroyed
   * as soon as the result is known, so a target that hangs or streams an endless body costs at
   * most `timeoutMs`.
   */
  run(target: HttpTarget, timeoutMs: number, signal: AbortSignal): Promise<CheckResult> {
    return runProbe(
      target.label,
      timeoutMs,
      signal,
      () =>
        (target.secure ? https : http).request(target.url, {
          ...target.options,
          // The check's own headers still win.
          ...(this.node === null ? {} : { headers: { 'x-konsul-node': this.node, ...target.options.headers } }),
          agent: target.secure ? this.httpsAgent : this.httpAgent,
        }),
      (request, settle) => {
        const finish = (status: HealthStatus, note: string) => settle({ status, note });
        request.on('response', (response) => {
          const code = response.statusCode ?? 0;
          const status = statusForCode(code);
          const line = `${target.label}: ${code} ${response.statusMessage ?? ''}`.trimEnd();
          if (this.outputBytes === 0) return finish(status, line);
          const chunks: Buffer[] = [];
          let size = 0;
          // The status code decides; a body cut short by the target only shortens the note.
          const done = () =>
            finish(status, size === 0 ? line : `${line} Output: ${Buffer.concat(chunks, size).toString('utf8')}`);
          response.on('data', (chunk: Buffer) => {
            // Every way a run ends destroys the request: nothing more is collected after that.
            if (request.destroyed) return;
            const wanted = this.outputBytes - size;
            const taken = chunk.length > wanted ? chunk.subarray(0, wanted) : chunk;
            chunks.push(taken);
            size += taken.length;
            if (size >= this.outputBytes) done();
          });
          response.on('end', done);
          response.on('error', done);
          response.on('aborted', done);
        });
        request.end();
      },
      this.timers,
    );
  }

  /** Closes every socket the agents still hold. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

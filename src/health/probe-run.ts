import type { EventEmitter } from 'node:events';
import { systemClock, type Timers } from '../clock.js';
import { formatDuration } from '../duration.js';
import { MAX_TIMER_MS } from './deadlines.js';
import { describeError, localErrorCode, type CheckResult } from './result.js';

/** What a probe runs on: a socket or a client request. */
export interface ProbeHandle extends EventEmitter {
  destroy(): void;
}

/**
 * The life of one http or tcp probe. The first result wins: the probe's own verdict, an error,
 * the timeout or cancellation. An error of this host's own (localErrorCode) is marked as such. The handle is destroyed as soon as the result is known, and the
 * run resolves (never rejects) only once the handle has closed, so a finished run holds no
 * handle: stop() waits for runs, and then nothing is left open. A signal aborted before the run
 * starts opens nothing. The timeout runs on `timers`, so a test can time a probe out on a
 * virtual clock.
 */
export function runProbe<H extends ProbeHandle>(
  label: string,
  timeoutMs: number,
  signal: AbortSignal,
  open: () => H,
  probe: (handle: H, finish: (result: CheckResult) => void) => void,
  timers: Timers = systemClock,
): Promise<CheckResult> {
  return new Promise<CheckResult>((resolve) => {
    if (signal.aborted) return resolve({ status: 'critical', note: `${label}: check cancelled` });
    const handle = open();
    let settled = false;
    let closed = false;
    let outcome: CheckResult | undefined;
    handle.once('close', () => {
      closed = true;
      if (outcome !== undefined) resolve(outcome);
    });
    const finish = (result: CheckResult) => {
      if (settled) return;
      settled = true;
      timers.clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      outcome = result;
      handle.destroy();
      if (closed) resolve(result);
    };
    const timer = timers.setTimeout(
      () => finish({ status: 'critical', note: `${label}: timed out after ${formatDuration(timeoutMs)}` }),
      Math.min(timeoutMs, MAX_TIMER_MS),
    );
    const onAbort = () => finish({ status: 'critical', note: `${label}: check cancelled` });
    // Stays attached after finish: destroying a handle can still emit an error, which must not
    // become an uncaught exception.
    handle.on('error', (error: Error) => {
      const note = `${label}: ${describeError(error)}`;
      const localError = localErrorCode(error);
      finish(localError === undefined ? { status: 'critical', note } : { status: 'critical', note, localError });
    });
    signal.addEventListener('abort', onAbort, { once: true });
    probe(handle, finish);
  });
}

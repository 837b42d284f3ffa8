import { connect } from 'node:net';
import { formatDuration } from '../duration.js';
import { describeError, type CheckResult } from './result.js';
import { MAX_TIMER_MS } from './deadlines.js';

/** A tcp check's address, parsed once at registration. */
export interface TcpTarget {
  host: string;
  port: number;
  /** `TCP connect host:port`: the prefix of every note. */
  label: string;
}

/** `host:port`, `1.2.3.4:port` or `[v6 address]:port` (the only form an IPv6 address can take). */
export function tcpTarget(address: string): TcpTarget {
  const colon = address.lastIndexOf(':');
  const hostPart = address.slice(0, colon);
  const host = hostPart.startsWith('[') && hostPart.endsWith(']') ? hostPart.slice(1, -1) : hostPart;
  return { host, port: Number(address.slice(colon + 1)), label: `TCP connect ${address}` };
}

/** Passing when a connection is established within the timeout; the socket is closed at once. Never rejects. */
export function runTcpCheck(target: TcpTarget, timeoutMs: number, signal: AbortSignal): Promise<CheckResult> {
  return new Promise<CheckResult>((resolve) => {
    if (signal.aborted) return resolve({ status: 'critical', note: `${target.label}: check cancelled` });
    const socket = connect({ host: target.host, port: target.port });
    let settled = false;
    let closed = false;
    let outcome: CheckResult | undefined;
    // Resolve once the socket has closed, so a finished run holds no handle (see HttpProber.run).
    socket.once('close', () => {
      closed = true;
      if (outcome !== undefined) resolve(outcome);
    });
    const finish = (result: CheckResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      outcome = result;
      socket.destroy();
      if (closed) resolve(result);
    };
    const timer = setTimeout(() => finish({ status: 'critical', note: `${target.label}: timed out after ${formatDuration(timeoutMs)}` }), Math.min(timeoutMs, MAX_TIMER_MS));
    const onAbort = () => finish({ status: 'critical', note: `${target.label}: check cancelled` });
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish({ status: 'passing', note: `${target.label}: Success` }));
    socket.on('error', (error) => finish({ status: 'critical', note: `${target.label}: ${describeError(error)}` }));
  });
}

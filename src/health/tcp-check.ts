import { connect } from 'node:net';
import { systemClock, type Timers } from '../clock.js';
import { runProbe } from './probe-run.js';
import type { CheckResult } from './result.js';

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
export function runTcpCheck(
  target: TcpTarget,
  timeoutMs: number,
  signal: AbortSignal,
  timers: Timers = systemClock,
): Promise<CheckResult> {
  return runProbe(
    target.label,
    timeoutMs,
    signal,
    () => connect({ host: target.host, port: target.port }),
    (socket, finish) => socket.once('connect', () => finish({ status: 'passing', note: `${target.label}: Success` })),
    timers,
  );
}

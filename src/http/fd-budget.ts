import { readFileSync } from 'node:fs';

/**
 * Every socket and file takes a descriptor from one per-process allowance (`ulimit -n`). When
 * HTTP connections take the last one, health probes fail to connect (`connect EMFILE`) and the
 * listeners cannot accept, so HTTP connections get what is left after a reserve for the rest.
 */
export interface FdBudgetInput {
  /** The soft RLIMIT_NOFILE, or null where it cannot be read (not Linux). */
  openFileLimit: number | null;
  /** http.maxConnections. */
  maxConnections: number;
  /** http.fdReserve: the database, listeners, stdio, log files and slack. */
  fdReserve: number;
  /** health.maxConcurrent: one socket per running http or tcp check. */
  healthProbes: number;
  /** dns.maxConcurrent when DNS is on: its TCP connections, 0 otherwise. */
  dnsConnections: number;
}

export interface FdBudget {
  /** HTTP connections held at once. */
  maxConnections: number;
  /** Descriptors kept for everything else. */
  reserved: number;
  /** Set when the open-file limit, not http.maxConnections, decided: what to tell the operator. */
  constrainedBy: string | null;
  /** The reserve itself does not fit in the open-file limit: the limit must rise. */
  starved: boolean;
}

/** Below this many HTTP connections the server is hardly usable; a lower share means the limit must rise. */
const MIN_HTTP_CONNECTIONS = 64;

export function fdBudget(input: FdBudgetInput): FdBudget {
  const reserved = input.fdReserve + input.healthProbes + input.dnsConnections;
  if (input.openFileLimit === null)
    return { maxConnections: input.maxConnections, reserved, constrainedBy: null, starved: false };
  const room = input.openFileLimit - reserved;
  if (room >= input.maxConnections)
    return { maxConnections: input.maxConnections, reserved, constrainedBy: null, starved: false };
  if (room >= MIN_HTTP_CONNECTIONS) {
    return {
      maxConnections: room,
      reserved,
      constrainedBy: `the open-file limit ${input.openFileLimit} minus ${reserved} reserved descriptors`,
      starved: false,
    };
  }
  // The reserve alone does not fit: split what there is, and say which limit to raise.
  const share = Math.max(1, Math.floor((input.openFileLimit - input.fdReserve) / 2));
  return {
    maxConnections: Math.min(input.maxConnections, share),
    reserved: input.openFileLimit - share,
    constrainedBy:
      `the open-file limit ${input.openFileLimit} is below the ${reserved} descriptors reserved for health checks ` +
      `(${input.healthProbes}), DNS TCP (${input.dnsConnections}) and http.fdReserve (${input.fdReserve}); ` +
      'raise `ulimit -n` (LimitNOFILE= under systemd)',
    starved: true,
  };
}

/** The soft limit on open files from /proc/self/limits; null when unreadable or unlimited. */
export function readOpenFileLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (match === null || match[1] === 'unlimited') return null;
  return Number(match[1]);
}

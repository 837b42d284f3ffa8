import type { HealthStatus } from '../catalog/types.js';

/** What one run of a check found: the status it maps to and the note a user reads. */
export interface CheckResult {
  status: HealthStatus;
  note: string;
  /**
   * The errno code when the run failed on this host, before the target was tested: out of
   * descriptors, socket buffers, memory or local ports. The manager keeps the check's status.
   */
  localError?: string;
}

/**
 * Errors that say this host could not make the attempt, not that the target failed it. Counting
 * them as the target's failure took healthy instances out of DNS when a connection flood used up
 * Konsul's own descriptors (issue #13). kubelet likewise throws away a result when the prober
 * itself errs. EADDRNOTAVAIL on connect is the ephemeral-port range running out.
 */
const LOCAL_ERROR_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL']);

/** The code of `error` when it is a local resource error, otherwise undefined. */
export function localErrorCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && LOCAL_ERROR_CODES.has(code) ? code : undefined;
}

/** `connect ECONNREFUSED 127.0.0.1:80` rather than a bare code or a stack. */
export function describeError(error: unknown): string {
  if (error instanceof Error)
    return error.message === '' ? ((error as NodeJS.ErrnoException).code ?? error.name) : error.message;
  return String(error);
}

import type { HealthStatus } from '../catalog/types.js';

/** What one run of a check found: the status it maps to and the note a user reads. */
export interface CheckResult {
  status: HealthStatus;
  note: string;
}

/** `connect ECONNREFUSED 127.0.0.1:80` rather than a bare code or a stack. */
export function describeError(error: unknown): string {
  if (error instanceof Error)
    return error.message === '' ? ((error as NodeJS.ErrnoException).code ?? error.name) : error.message;
  return String(error);
}

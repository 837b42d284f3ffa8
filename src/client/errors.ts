/**
 * Every error the client throws, defined once (the server's catalogue is src/errors.ts; these
 * are not HTTP answers, so they carry no status). Callers branch on `code`, never on messages.
 */
export class KonsulClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KonsulClientError';
  }
}

/** Konsul answered a call with a 4xx: `serverCode` is its `error.code` (e.g. check_not_found). */
export class KonsulRefusal extends KonsulClientError {
  constructor(
    readonly status: number,
    readonly serverCode: string,
    message: string,
  ) {
    super('konsul_refused', `Konsul answered ${status} ${serverCode}: ${message}`);
  }
}

function define<A extends unknown[]>(code: string, message: (...args: A) => string) {
  const factory = (...args: A): KonsulClientError => new KonsulClientError(code, message(...args));
  return Object.assign(factory, { code });
}

export const ClientErrors = {
  invalidOption: define('invalid_option', (detail: string) => detail),
  closed: define('closed', () => 'The Konsul client is closed'),
  noInstance: define(
    'no_instance',
    (service: string) => `No instance of "${service}" is available (none known, or every one is ejected or open)`,
  ),
  notSynced: define(
    'not_synced',
    (service: string) => `The instances of "${service}" are not known yet: Konsul has not answered within the deadline`,
  ),
  deadlineExceeded: define(
    'deadline_exceeded',
    (service: string, ms: number) => `The call to "${service}" did not get an answer within its ${ms} ms deadline`,
  ),
  requestFailed: define(
    'request_failed',
    (service: string, attempts: number, detail: string) =>
      `The call to "${service}" failed after ${attempts} attempt(s): ${detail}`,
  ),
  konsulUnavailable: define('konsul_unavailable', (detail: string) => `No Konsul server answered: ${detail}`),
  konsulRefused: (status: number, serverCode: string, message: string): KonsulRefusal =>
    new KonsulRefusal(status, serverCode, message),
};

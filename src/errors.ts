/**
 * Every error Konsul answers with, defined once: its code, HTTP status and message.
 * Routes and the core throw these; one error handler shapes them into
 * `{ "error": { "code", "message" } }`. docs/api.md lists the same table.
 */
export class KonsulError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'KonsulError';
  }
}

function define<A extends unknown[]>(code: string, statusCode: number, message: (...args: A) => string) {
  const factory = (...args: A): KonsulError => new KonsulError(code, statusCode, message(...args));
  return Object.assign(factory, { code, statusCode });
}

export const Errors = {
  validationFailed: define('validation_failed', 400, (detail: string) => detail),
  malformedJson: define('malformed_json', 400, (detail: string) => `Request body is not valid JSON: ${detail}`),
  unsupportedMediaType: define(
    'unsupported_media_type',
    415,
    (type: string) => `Unsupported content type "${type}"; send application/json`,
  ),
  bodyTooLarge: define(
    'body_too_large',
    413,
    (limit: number) => `Request body is larger than the limit of ${limit} bytes`,
  ),
  badRequest: define('bad_request', 400, () => 'The request is not valid HTTP'),
  headersTooLarge: define(
    'headers_too_large',
    431,
    () => 'The request line and headers are larger than the server accepts (16 KiB)',
  ),
  requestTimeout: define('request_timeout', 408, () => 'The request was not received in time'),
  routeNotFound: define('route_not_found', 404, (method: string, url: string) => `No route for ${method} ${url}`),
  instanceNotFound: define('instance_not_found', 404, (id: string) => `No instance with id "${id}"`),
  uiNotBuilt: define(
    'ui_not_built',
    503,
    (dir: string) => `The web UI is not built (no ${dir}/index.html); run npm run build`,
  ),
  dnsDisabled: define('dns_disabled', 409, () => 'DNS is disabled on this server (dns.enabled is false)'),
  uiBusy: define(
    'ui_busy',
    429,
    (limit: number) => `The server is already sampling ${limit} distributions for the UI; retry in a moment`,
  ),
  serviceConfigNotFound: define(
    'service_config_not_found',
    404,
    (name: string) => `Service "${name}" has no config; PUT one first`,
  ),
  checkNotFound: define('check_not_found', 404, (checkId: string) => `No check with id "${checkId}"`),
  notTtlCheck: define(
    'not_ttl_check',
    400,
    (checkId: string, type: string) =>
      `Check "${checkId}" is a ${type} check; only ttl checks take pass, warn and fail updates`,
  ),
  duplicateCheckId: define(
    'duplicate_check_id',
    400,
    (checkId: string) => `Check id "${checkId}" appears more than once in the registration`,
  ),
  checkIdTaken: define(
    'check_id_taken',
    409,
    (checkId: string, instanceId: string) => `Check id "${checkId}" already belongs to instance "${instanceId}"`,
  ),
  tooManyChecks: define(
    'too_many_checks',
    400,
    (count: number, limit: number) =>
      `checks: ${count} checks on one instance; this server takes at most ${limit} (health.maxChecksPerInstance)`,
  ),
  invalidCheck: define('invalid_check', 400, (field: string, detail: string) => `${field}: ${detail}`),
  invalidDuration: define(
    'invalid_duration',
    400,
    (field: string, value: string) =>
      `${field}: "${value}" is not a duration; use a number with a unit such as 500ms, 10s, 1m or 1h`,
  ),
  unknownStrategy: define(
    'unknown_strategy',
    400,
    (name: string, valid: readonly string[]) =>
      `Unknown load-balancing strategy "${name}"; valid strategies are: ${valid.join(', ')}`,
  ),
  strategyDisabled: define(
    'strategy_disabled',
    400,
    (name: string, enabled: readonly string[]) =>
      `Load-balancing strategy "${name}" is disabled on this server; enabled strategies are: ${enabled.join(', ')}`,
  ),
  missingSessionKey: define(
    'missing_session_key',
    400,
    (strategy: string) => `Strategy "${strategy}" needs a session-key query parameter`,
  ),
  invalidLimit: define('invalid_limit', 400, (value: string) => `limit must be a non-negative integer, got "${value}"`),
  invalidClientIp: define(
    'invalid_client_ip',
    400,
    (value: string) => `client-ip must be an IPv4 or IPv6 address, got "${value}"`,
  ),
  unauthorized: define(
    'unauthorized',
    401,
    () =>
      'This request needs a token: send "Authorization: Bearer <token>" or "X-Konsul-Token: <token>" (Consul clients: "X-Consul-Token" or ?token=)',
  ),
  forbidden: define('forbidden', 403, () => 'The token sent is not valid'),
  rateLimited: define(
    'rate_limited',
    429,
    (retryAfterSeconds: number) => `Too many writes from this client; retry in ${retryAfterSeconds} s`,
  ),
  tooManyWatchers: define(
    'too_many_blocking_queries',
    429,
    (limit: number) => `The server already holds ${limit} blocking queries; retry later or without index`,
  ),
  storageUnavailable: define(
    'storage_unavailable',
    503,
    (detail: string) => `The catalog could not be written: ${detail}`,
  ),
  notCheckOwner: define(
    'not_check_owner',
    409,
    (checkId: string) => `This node no longer owns check "${checkId}": its cluster membership changed`,
  ),
  notReady: define('not_ready', 503, (reason: string) => `Konsul is not ready: ${reason}`),
  shuttingDown: define('shutting_down', 503, () => 'Konsul is shutting down'),
  internal: define('internal_error', 500, () => 'Internal server error'),
} as const;

export type ErrorName = keyof typeof Errors;

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Errors, KonsulError } from '../../errors.js';
import { logServerFailure } from '../error-handler.js';
import { describeIssue, issuePath, type ValidationIssue } from '../validation-message.js';

/**
 * Consul answers errors as plain text with a status code, never as JSON, and its clients show
 * (and sometimes match on) that text. The /v1 face follows Consul here; the status codes and
 * the wording of the messages clients are known to match come from Consul's agent/http.go and
 * agent/agent_endpoint.go.
 */
export class ConsulHttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ConsulHttpError';
  }

  static badRequest(message: string): ConsulHttpError {
    return new ConsulHttpError(400, message);
  }

  /** Consul's text for a registration without a name (agent_endpoint.go AgentRegisterService). */
  static missingServiceName(): ConsulHttpError {
    return new ConsulHttpError(400, 'Missing service name');
  }

  /** Consul accepts more names; Konsul's are DNS labels so that every service is reachable over DNS. */
  static invalidServiceName(name: unknown): ConsulHttpError {
    return new ConsulHttpError(
      400,
      `Invalid service name ${JSON.stringify(name)}: Konsul service names are DNS labels (letters, digits and hyphens, 1 to 63 characters, not starting or ending with a hyphen)`,
    );
  }

  /** Consul allows a service without a port; Konsul load-balances instances, which need one. */
  static invalidServicePort(): ConsulHttpError {
    return new ConsulHttpError(
      400,
      'Invalid service port: Konsul needs a Port between 1 and 65535 (services without a port cannot be load-balanced)',
    );
  }

  static unknownService(id: string): ConsulHttpError {
    return new ConsulHttpError(
      404,
      `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`,
    );
  }

  static unknownCheck(checkId: string): ConsulHttpError {
    return new ConsulHttpError(
      404,
      `Unknown check ID "${checkId}". Ensure that the check ID is passed, not the check name.`,
    );
  }

  /**
   * Consul answers a pass/warn/fail of a check that is not a TTL check with 500 and this text;
   * clients such as Spring Cloud Consul match on it to re-register, so both are kept.
   */
  static notTtlCheck(checkId: string): ConsulHttpError {
    return new ConsulHttpError(500, `CheckID "${checkId}" does not have associated TTL`);
  }

  static methodNotAllowed(method: string): ConsulHttpError {
    return new ConsulHttpError(405, `method ${method} not allowed`);
  }
}

/** Replies to every failure on a /v1 route as Consul does: a status and a line of text. */
export function consulErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const { statusCode, message } = toConsulError(error, request);
  const expected = error instanceof ConsulHttpError || (error instanceof KonsulError && error.statusCode < 500);
  if (statusCode >= 500 && !expected) logServerFailure(request, error);
  void reply.status(statusCode).type('text/plain; charset=utf-8').send(message);
}

function toConsulError(error: FastifyError, request: FastifyRequest): { statusCode: number; message: string } {
  if (error instanceof ConsulHttpError) return error;
  if (error instanceof KonsulError) return fromKonsulError(error);
  if (error.validation !== undefined) {
    return {
      statusCode: 400,
      message: describeValidation(error.validation, error.validationContext ?? 'request', request),
    };
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        statusCode: 413,
        message: `Request body too large: the limit is ${request.routeOptions.bodyLimit} bytes`,
      };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { statusCode: 400, message: 'Request decode failed: EOF' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { statusCode: 400, message: `Request decode failed: ${error.message}` };
  }
  // secure-json-parse refuses __proto__ / constructor.prototype keys with a SyntaxError.
  if (error instanceof SyntaxError) return { statusCode: 400, message: `Request decode failed: ${error.message}` };
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500)
    return { statusCode: error.statusCode, message: error.message };
  return { statusCode: 500, message: Errors.internal().message };
}

function fromKonsulError(error: KonsulError): { statusCode: number; message: string } {
  switch (error.code) {
    // Consul never answers 401: an absent token is the anonymous token, denied with 403.
    case Errors.unauthorized.code:
      return {
        statusCode: 403,
        message:
          'Permission denied: this request needs a token (X-Consul-Token header, ?token= or Authorization: Bearer)',
      };
    case Errors.forbidden.code:
      return { statusCode: 403, message: 'ACL not found' };
    case Errors.invalidCheck.code:
    case Errors.invalidDuration.code:
    case Errors.duplicateCheckId.code:
      return { statusCode: 400, message: `Invalid check: ${error.message}` };
    case Errors.validationFailed.code:
      return { statusCode: 400, message: `Validation failed: ${error.message}` };
    default:
      return { statusCode: error.statusCode, message: error.message };
  }
}

function describeValidation(issues: readonly ValidationIssue[], context: string, request: FastifyRequest): string {
  const issue = issues[0];
  const path = issuePath(issue).replace(/^\./, '');
  if (context === 'querystring') return describeQueryIssue(issue, path, request);
  if (context === 'body') {
    if (request.body === undefined || request.body === null) return 'Request decode failed: EOF';
    const registrationIssue = describeRegistrationIssue(issue, path, request);
    if (registrationIssue !== undefined) return registrationIssue;
    if (/(^|\.)Status$/.test(path)) {
      // Consul's wording for a bad status: the update endpoint quotes it, registration does not.
      const status = (request.body as { Status?: unknown }).Status;
      return path === 'Status' && request.routeOptions.url?.includes('/check/update/') === true
        ? `Invalid check status: '${String(status)}'`
        : "Status for checks must 'passing', 'warning', 'critical'";
    }
    return `Request decode failed: ${describeIssue(issue, path)}`;
  }
  return `Invalid ${context === 'params' ? 'path' : context}: ${describeIssue(issue, path)}`;
}

/**
 * A registration's name and port follow Konsul's shared field rules (../schemas.ts), which are
 * narrower than Consul's; these answers say so in Consul's words where Consul has some.
 */
function describeRegistrationIssue(issue: ValidationIssue, path: string, request: FastifyRequest): string | undefined {
  if (!request.routeOptions.url?.endsWith('/agent/service/register')) return undefined;
  const body = request.body as { Name?: unknown; Port?: unknown };
  if (path === 'Name' && typeof body.Name === 'string')
    return body.Name === ''
      ? ConsulHttpError.missingServiceName().message
      : ConsulHttpError.invalidServiceName(body.Name).message;
  if (path === 'Port' && Number.isInteger(body.Port) && issue.keyword !== 'type')
    return ConsulHttpError.invalidServicePort().message;
  return undefined;
}

function describeQueryIssue(issue: ValidationIssue, path: string, request: FastifyRequest): string {
  const field = path.split(/[.[]/, 1)[0];
  switch (field) {
    case 'wait':
      return 'Invalid wait time';
    case 'index':
      return 'Invalid index';
    case 'passing':
      return 'Invalid value for ?passing';
    case 'max_stale':
      return `Invalid max_stale value ${JSON.stringify((request.query as Record<string, unknown>).max_stale)}`;
    default:
      return `Invalid query parameter: ${describeIssue(issue, path)}`;
  }
}

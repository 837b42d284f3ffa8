import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Errors, KonsulError } from '../errors.js';
import { describeIssue, issuePath, type ValidationIssue } from './validation-message.js';

/** Shapes every failure as `{ error: { code, message } }`; a validation failure names the field. */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const konsulError = toKonsulError(error, request);
  if (konsulError.statusCode >= 500) logServerFailure(request, error);
  void reply.status(konsulError.statusCode).send({ error: { code: konsulError.code, message: konsulError.message } });
}

/**
 * A catalogued 5xx (storage_unavailable, not_ready, shutting_down) is an operating condition
 * that repeats for every request while it lasts, so it gets one warn line with its code and no
 * stack; anything else is a bug and gets the stack.
 */
export function logServerFailure(request: FastifyRequest, error: Error): void {
  if (error instanceof KonsulError) request.log.warn({ code: error.code, detail: error.message }, 'request refused');
  else request.log.error({ err: error }, 'request failed');
}

function toKonsulError(error: FastifyError, request: FastifyRequest): KonsulError {
  if (error instanceof KonsulError) return error;
  if (error.validation !== undefined) {
    return Errors.validationFailed(describeValidation(error.validation, error.validationContext ?? 'request'));
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return Errors.bodyTooLarge(request.routeOptions.bodyLimit);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return Errors.unsupportedMediaType(String(request.headers['content-type'] ?? ''));
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return Errors.malformedJson('the body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return Errors.malformedJson(error.message);
    // The router's own refusals (a bad %-escape in the path, a path segment past maxParamLength).
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return Errors.validationFailed(`url: ${error.message}`);
  }
  // secure-json-parse refuses __proto__ / constructor.prototype keys with a SyntaxError.
  if (error instanceof SyntaxError) return Errors.malformedJson(error.message);
  // Any other refusal of the request itself (a bad Content-Length, …): a 400 from the catalogue.
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return Errors.badRequest();
  return Errors.internal();
}

function describeValidation(issues: readonly ValidationIssue[], context: string): string {
  return describeIssue(issues[0], `${context}${issuePath(issues[0])}`);
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (a request line and headers over
 * 16 KiB, a header timeout, bytes that are not HTTP) get the standard shape too, instead of
 * Fastify's `{ error, message, statusCode }`. Like Fastify's default, answer once and close.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const {
    statusCode: status,
    code,
    message,
  } = error.code === 'HPE_HEADER_OVERFLOW'
    ? Errors.headersTooLarge()
    : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? Errors.requestTimeout()
      : Errors.badRequest();
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

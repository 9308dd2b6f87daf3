import type { FastifyInstance, FastifyReply } from 'fastify';
import type { z } from 'zod';
import { RateLimitedError, type RateLimitResult } from '../core/index.js';
import { HttpError, rateLimitedResponse, toErrorResponse } from '../http/index.js';
import { applyResponseHeaders } from './response-headers.js';

/**
 * The conventions of this JSON API on a Fastify instance: only JSON bodies
 * (and JSON Patch) are parsed, every error becomes `{ "error": { code,
 * message } }` with the status from the error table (a RateLimitedError with
 * the headers of `sendRateLimited`), an unknown route is a JSON 404 too, and
 * responses carry the headers of `applyResponseHeaders`.
 * No error message quotes the request. Call it once on the root instance,
 * before routes are registered.
 */
export function applyApiDefaults(app: FastifyInstance): void {
  applyResponseHeaders(app);
  // Only JSON bodies are part of this API; anything else is a 415, not a string to validate.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(
    'application/json-patch+json',
    { parseAs: 'string' },
    app.getDefaultJsonParser('error', 'error'),
  );
  app.setErrorHandler((error, request, reply) => {
    // Wherever a limit refused (an API key's own limit, say), the client learns when to come back.
    if (error instanceof RateLimitedError) return sendRateLimited(reply, error.result);
    const { status, body, headers = {} } = toErrorResponse(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(status).headers(headers).send(body);
  });
  app.setNotFoundHandler((_request, reply) => {
    const { status, body } = toErrorResponse(
      new HttpError('ERR_ROUTE_NOT_FOUND', 'no route matches this method and path'),
    );
    return reply.code(status).send(body);
  });
}

/**
 * `input` (a body, path parameters, a query) checked against `schema`, or an
 * ERR_VALIDATION HttpError (400) naming the first problem and listing all in
 * `details`. `what` names the input in the message. Problems name the
 * schema's fields, never the input's values or its unknown keys.
 */
export function parseInput<T extends z.ZodType>(
  schema: T,
  input: unknown,
  what: string,
): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => ({
    path: issue.path.join('.'),
    // zod quotes unknown keys, which a query string lets anyone choose.
    message:
      issue.code === 'unrecognized_keys' ? 'has fields that are not accepted' : issue.message,
  }));
  const first = details[0];
  throw new HttpError(
    'ERR_VALIDATION',
    `invalid ${what}: ${first?.path || '(root)'}: ${first?.message}`,
    details,
  );
}

/** Answers a refused rate-limit check: 429 `ERR_RATE_LIMITED` with `Retry-After` and `RateLimit-*`. */
export function sendRateLimited(reply: FastifyReply, result: RateLimitResult) {
  const { status, headers, body } = rateLimitedResponse(result);
  return reply.code(status).headers(headers).send(body);
}

import { ClawsessionError } from '../core/index.js';

/**
 * The one table from error code to HTTP status, for the gateway and for the
 * middleware alike. Codes not listed are server errors.
 */
const STATUS_BY_CODE: Record<string, number> = {
  ERR_VALIDATION: 400,
  ERR_REQUEST_MALFORMED: 400,
  ERR_SESSION_TOKEN_INVALID: 400,
  ERR_PATCH_MALFORMED: 400,
  ERR_PATCH_FORBIDDEN_PATH: 400,
  ERR_BODY_MALFORMED: 400,
  ERR_PRECONDITION_MALFORMED: 400,
  ERR_PASSWORD_POLICY: 400,
  ERR_PATH_INVALID: 400,
  ERR_HOST_INVALID: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_LOGIN_FAILED: 401,
  ERR_CSRF: 403,
  ERR_TOKEN_INVALID: 401,
  ERR_TOKEN_EXPIRED: 401,
  ERR_TOKEN_REVOKED: 401,
  ERR_REFRESH_TOKEN_INVALID: 401,
  ERR_REFRESH_TOKEN_REUSED: 401,
  ERR_CONTEXT_INVALID: 401,
  ERR_API_KEY_INVALID: 401,
  ERR_API_KEY_SCOPE: 403,
  ERR_SESSION_NOT_FOUND: 404,
  ERR_ROUTE_NOT_FOUND: 404,
  ERR_USER_NOT_FOUND: 404,
  ERR_API_KEY_NOT_FOUND: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_REQUEST_TIMEOUT: 408,
  ERR_SESSION_EXISTS: 409,
  ERR_USER_EXISTS: 409,
  ERR_PATCH_TEST_FAILED: 409,
  ERR_SESSION_VERSION_CONFLICT: 412,
  ERR_SESSION_DATA_TOO_LARGE: 413,
  ERR_BODY_TOO_LARGE: 413,
  ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  ERR_PATCH_TARGET: 422,
  ERR_RATE_LIMITED: 429,
  ERR_PROOF_OF_WORK_REQUIRED: 429,
  ERR_HEADERS_TOO_MANY: 431,
  ERR_HEADERS_TOO_LARGE: 431,
  ERR_UPSTREAM_UNAVAILABLE: 502,
  ERR_SHUTTING_DOWN: 503,
  ERR_NOT_READY: 503,
  ERR_STORE_UNAVAILABLE: 503,
  ERR_AUTH_UPSTREAM_UNAVAILABLE: 503,
  ERR_CONTEXT_KEYS_UNAVAILABLE: 503,
  ERR_UPSTREAM_TIMEOUT: 504,
};

/** Fastify's own request errors, renamed into this API's codes. */
const CODE_BY_FASTIFY_CODE: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'ERR_BODY_MALFORMED',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ERR_BODY_MALFORMED',
  FST_ERR_CTP_INVALID_JSON_BODY: 'ERR_BODY_MALFORMED',
  FST_ERR_BAD_URL: 'ERR_VALIDATION',
};

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** Raised by route code for HTTP-only conditions that have no core error class. */
export class HttpError extends ClawsessionError {
  readonly details?: unknown;

  constructor(code: string, message: string, details?: unknown) {
    super(code, message);
    this.details = details;
  }
}

/**
 * The status and JSON body for any thrown value; unknown errors become an
 * opaque 500. `overrides` changes the status of a code where the context gives
 * it another meaning.
 */
export function toErrorResponse(
  error: unknown,
  overrides: Readonly<Record<string, number>> = {},
): { status: number; body: ErrorBody } {
  if (error instanceof ClawsessionError) {
    const details = error instanceof HttpError ? error.details : undefined;
    return {
      status: overrides[error.code] ?? STATUS_BY_CODE[error.code] ?? 500,
      body: {
        error: { code: error.code, message: error.message, ...(details ? { details } : {}) },
      },
    };
  }
  const fastifyError = error as { code?: string; statusCode?: number; message?: string };
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode < 500) {
    const code =
      CODE_BY_FASTIFY_CODE[fastifyError.code ?? ''] ??
      (fastifyError.statusCode === 415 ? 'ERR_UNSUPPORTED_MEDIA_TYPE' : 'ERR_BODY_MALFORMED');
    return {
      status: STATUS_BY_CODE[code] ?? fastifyError.statusCode,
      body: { error: { code, message: fastifyError.message ?? 'bad request' } },
    };
  }
  return {
    status: 500,
    body: { error: { code: 'ERR_INTERNAL', message: 'internal server error' } },
  };
}

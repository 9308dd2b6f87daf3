import { ClawsessionError, StoreBusyError } from '../core/index.js';

/**
 * The one table from error code to HTTP status, for the gateway and for the
 * middleware alike. Codes not listed are server errors.
 */
const STATUS_BY_CODE: Record<string, number> = {
  ERR_VALIDATION: 400,
  ERR_REQUEST_MALFORMED: 400,
  ERR_URL_MALFORMED: 400,
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
  ERR_STEP_UP_REQUIRED: 401,
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
  ERR_EVENTS_DISABLED: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_REQUEST_TIMEOUT: 408,
  ERR_SESSION_EXISTS: 409,
  ERR_USER_EXISTS: 409,
  ERR_PATCH_TEST_FAILED: 409,
  ERR_SESSION_VERSION_CONFLICT: 412,
  ERR_SESSION_DATA_TOO_LARGE: 413,
  ERR_BODY_TOO_LARGE: 413,
  ERR_URL_TOO_LONG: 414,
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
  ERR_STORE_BUSY: 503,
  ERR_AUTH_UPSTREAM_UNAVAILABLE: 503,
  ERR_CONTEXT_KEYS_UNAVAILABLE: 503,
  ERR_UPSTREAM_TIMEOUT: 504,
};

/**
 * What clients are told for codes whose messages name a server (its kind,
 * host and port) for the operator's log, which clients have no use for.
 */
const PUBLIC_MESSAGES: Record<string, string> = {
  ERR_STORE_UNAVAILABLE: 'the store is unavailable; nothing was changed',
  ERR_STORE_BUSY: 'the store is busy; nothing was changed, retry after Retry-After seconds',
};

/** An error this API answers with: its code and a message that quotes nothing from the request. */
interface FrameworkError {
  code: string;
  message: string;
}

const BODY_MALFORMED: FrameworkError = {
  code: 'ERR_BODY_MALFORMED',
  message: 'the request body is malformed',
};
const BODY_TOO_LARGE: FrameworkError = {
  code: 'ERR_BODY_TOO_LARGE',
  message: 'the request body is larger than this route accepts',
};
const UNSUPPORTED_MEDIA_TYPE: FrameworkError = {
  code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  message: 'this route does not accept the content type of the request body',
};

/**
 * Fastify's own request errors in this API's codes. Their messages are not
 * passed on: Fastify's quote the URL or the Content-Type, and JSON.parse's
 * quote the body.
 */
const FRAMEWORK_ERRORS: Record<string, FrameworkError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: BODY_TOO_LARGE,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: UNSUPPORTED_MEDIA_TYPE,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'ERR_BODY_MALFORMED',
    message: 'the request body does not match its Content-Length',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: 'ERR_BODY_MALFORMED',
    message: 'the request body is empty but its content type is JSON',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    code: 'ERR_BODY_MALFORMED',
    message: 'the request body is not valid JSON',
  },
  FST_ERR_BAD_URL: {
    code: 'ERR_URL_MALFORMED',
    message: 'the request URL has a malformed percent-encoding',
  },
  FST_ERR_MAX_PARAM_LENGTH: {
    code: 'ERR_URL_TOO_LONG',
    message: 'a segment of the request URL is too long',
  },
};

/** Framework errors without a code of their own (a JSON.parse failure has none), by status. */
const FRAMEWORK_ERRORS_BY_STATUS: Record<number, FrameworkError> = {
  413: BODY_TOO_LARGE,
  415: UNSUPPORTED_MEDIA_TYPE,
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
 * The status, JSON body and any headers to send (`Retry-After` for a busy
 * store) for any thrown value; unknown errors become an opaque 500.
 * `overrides` changes the status of a code where the context gives it
 * another meaning.
 */
export function toErrorResponse(
  error: unknown,
  overrides: Readonly<Record<string, number>> = {},
): { status: number; body: ErrorBody; headers?: Record<string, string> } {
  if (error instanceof ClawsessionError) {
    const details = error instanceof HttpError ? error.details : undefined;
    const message = PUBLIC_MESSAGES[error.code] ?? error.message;
    return {
      status: overrides[error.code] ?? STATUS_BY_CODE[error.code] ?? 500,
      body: { error: { code: error.code, message, ...(details ? { details } : {}) } },
      ...(error instanceof StoreBusyError
        ? { headers: { 'retry-after': String(error.retryAfter) } }
        : {}),
    };
  }
  const fastifyError = error as { code?: string; statusCode?: number };
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode < 500) {
    const { code, message } =
      FRAMEWORK_ERRORS[fastifyError.code ?? ''] ??
      FRAMEWORK_ERRORS_BY_STATUS[fastifyError.statusCode] ??
      BODY_MALFORMED;
    return {
      status: STATUS_BY_CODE[code] ?? fastifyError.statusCode,
      body: { error: { code, message } },
    };
  }
  return {
    status: 500,
    body: { error: { code: 'ERR_INTERNAL', message: 'internal server error' } },
  };
}

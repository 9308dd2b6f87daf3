export { expressSessions } from './adapters/express.js';
export { beginFastifySession, fastifySessions, finishFastifySession } from './adapters/fastify.js';
export { type HonoSessionsOptions, honoSessions, type SessionVariables } from './adapters/hono.js';
export { type SessionRequest, withSessions } from './adapters/node.js';
export {
  type BindingAction,
  type BindingMismatch,
  type BindingPolicy,
  normalizeIp,
  sameNetwork,
} from './binding.js';
export {
  MAX_COOKIE_HEADER_BYTES,
  type SameSite,
  SESSION_COOKIE_DEFAULTS,
  SessionCookie,
  type SessionCookieOptions,
} from './cookies.js';
export {
  CSRF_DATA_KEY,
  CSRF_DEFAULTS,
  CsrfError,
  type CsrfOptions,
  csrfTokenMatches,
  maskCsrfToken,
} from './csrf.js';
export { type ErrorBody, HttpError, toErrorResponse } from './errors.js';
export { type IfMatch, parseIfMatch } from './if-match.js';
export {
  type CombinedRateLimitResult,
  consumeAll,
  type RateLimitCheck,
  type RateLimitedResponse,
  rateLimitAddress,
  rateLimitedResponse,
  rateLimitHeaders,
} from './rate-limit/index.js';
export { normalizeRequestTarget } from './request-target.js';
export {
  assertNoReservedKey,
  checkReservedKeys,
  grantedRoles,
  isReservedKey,
  RESERVED_KEY_PREFIX,
  ROLES_DATA_KEY,
} from './reserved-data.js';
export {
  type HttpRequestInput,
  HttpSessions,
  type HttpSessionsOptions,
  type SessionExchange,
  type SessionHandle,
  sessionOf,
} from './session-middleware.js';

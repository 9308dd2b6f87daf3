import type { FastifyReply, FastifyRequest } from 'fastify';
import { constantTimeEqual, type EventCause, type RateLimiter } from '../core/index.js';
import { HttpError, rateLimitAddress } from '../http/index.js';
import {
  ApiKeyInvalidError,
  ApiKeyScopeError,
  type ApiKeys,
  isApiKeyLike,
  type Scope,
} from '../keys/index.js';
import { FailureThrottle } from './failure-throttle.js';
import { sendRateLimited } from './fastify-defaults.js';

/** Who called a service endpoint: the bootstrap root token, or an API key. */
export type ServicePrincipal =
  | { kind: 'root' }
  | { kind: 'api-key'; prefix: string; owner: string; scopes: readonly Scope[] };

export interface ServiceAuthOptions {
  apiKeys: ApiKeys;
  /** The bootstrap admin token; null when it is turned off. */
  rootToken: string | null;
  /**
   * Failed credentials per client address (`rateLimitAddress`): past the
   * limit, a 429 before the credential is even checked. Unlimited when unset.
   */
  failureLimiter?: RateLimiter;
  /** Epoch ms for how long a used-up address stays refused. Default `Date.now`. */
  clock?: () => number;
  /** Told of every verification, for metrics. */
  onVerification?: (result: 'ok' | 'invalid' | 'forbidden' | 'rate_limited') => void;
  /** Told of every request refused for its address's failures without asking `failureLimiter`. */
  onThrottled?: () => void;
}

const principals = new WeakMap<FastifyRequest, ServicePrincipal>();

/** The principal a `requireScope` hook admitted for this request. */
export function principalOf(request: FastifyRequest): ServicePrincipal | undefined {
  return principals.get(request);
}

/** Who acted, for the events of what an admin request changes: `admin:<key prefix>` or `admin:root`. */
export function adminCauseOf(request: FastifyRequest, reason: string): EventCause {
  const principal = principals.get(request);
  const actor = principal?.kind === 'api-key' ? `admin:${principal.prefix}` : 'admin:root';
  return { actor, reason };
}

/**
 * Least privilege for credentials that make credentials: the root token may
 * grant any scope, an API key only scopes it holds itself (ApiKeyScopeError,
 * 403, naming the first it lacks). A request no `requireScope` hook admitted
 * may grant nothing.
 */
export function assertMayGrant(request: FastifyRequest, scopes: readonly Scope[]): void {
  const principal = principalOf(request);
  if (principal === undefined)
    throw new HttpError('ERR_UNAUTHORIZED', 'a valid API key or admin token is required');
  if (principal.kind === 'root') return;
  const missing = scopes.find((scope) => !principal.scopes.includes(scope));
  if (missing !== undefined) throw new ApiKeyScopeError(missing);
}

/**
 * Builds the hook factory for service endpoints: the credential is an API key
 * (`Authorization: Bearer cs_live_…` or `X-API-Key`), limited to its scopes,
 * or the root token, which may do everything and whose use is logged (never
 * its value). A missing or bad credential is 401, a missing scope 403. Each
 * missing or bad credential is charged to the client's address in
 * `failureLimiter`; past its limit the address gets 429 before any
 * credential is checked.
 */
export function serviceAuth(options: ServiceAuthOptions) {
  const { apiKeys, rootToken, onVerification } = options;
  const failures =
    options.failureLimiter && new FailureThrottle(options.failureLimiter, options.clock);
  return function requireScope(scope: Scope) {
    return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const address = `service-auth:ip:${rateLimitAddress(request.ip)}`;
      const refusal = failures?.refusal(address);
      if (refusal) {
        options.onThrottled?.();
        return sendRateLimited(reply, refusal);
      }
      const presented = presentedCredential(request);
      if (presented !== undefined && rootToken !== null && !isApiKeyLike(presented)) {
        if (constantTimeEqual(presented, rootToken)) {
          request.log.info({ scope, credential: 'root' }, 'root admin token used');
          principals.set(request, { kind: 'root' });
          return;
        }
      }
      try {
        const key = await apiKeys.verify(presented ?? '', scope);
        onVerification?.('ok');
        principals.set(request, {
          kind: 'api-key',
          prefix: key.prefix,
          owner: key.owner,
          scopes: key.scopes,
        });
      } catch (error) {
        onVerification?.(verificationResult(error));
        // A valid key out of scope or over its own rate limit is no guess.
        if (!(error instanceof ApiKeyInvalidError)) throw error;
        request.log.info({ reason: error.reason }, 'service credential refused');
        const charged = await failures?.fail(address);
        if (charged && !charged.allowed) return sendRateLimited(reply, charged);
        reply.header('www-authenticate', 'Bearer realm="clawsession"');
        throw new HttpError('ERR_UNAUTHORIZED', 'a valid API key or admin token is required');
      }
    };
  };
}

function presentedCredential(request: FastifyRequest): string | undefined {
  const apiKey = request.headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') return apiKey;
  return /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
}

function verificationResult(error: unknown): 'invalid' | 'forbidden' | 'rate_limited' {
  if (error instanceof ApiKeyScopeError) return 'forbidden';
  if ((error as { code?: string }).code === 'ERR_RATE_LIMITED') return 'rate_limited';
  return 'invalid';
}

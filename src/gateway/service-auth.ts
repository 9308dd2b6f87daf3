import type { FastifyReply, FastifyRequest } from 'fastify';
import { constantTimeEqual } from '../core/index.js';
import {
  HttpError,
  type RateLimiter,
  rateLimitAddress,
  rateLimitedResponse,
} from '../http/index.js';
import { ApiKeyInvalidError, ApiKeyScopeError, type ApiKeys, type Scope } from '../keys/index.js';

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
  /** Told of every verification, for metrics. */
  onVerification?: (result: 'ok' | 'invalid' | 'forbidden' | 'rate_limited') => void;
}

const principals = new WeakMap<FastifyRequest, ServicePrincipal>();

/** The principal a `requireScope` hook admitted for this request. */
export function principalOf(request: FastifyRequest): ServicePrincipal | undefined {
  return principals.get(request);
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
 * attempt is charged to the client's address first, and the charge is taken
 * back unless the credential was missing or bad, so only those use up
 * `failureLimiter`.
 */
export function serviceAuth(options: ServiceAuthOptions) {
  const { apiKeys, rootToken, failureLimiter, onVerification } = options;
  return function requireScope(scope: Scope) {
    return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const charge = await failureLimiter?.consume(
        `service-auth:ip:${rateLimitAddress(request.ip)}`,
      );
      if (charge && !charge.allowed) {
        const { status, headers, body } = rateLimitedResponse(charge);
        return reply.code(status).headers(headers).send(body);
      }
      const refund = () => (charge ? failureLimiter?.refund(charge) : undefined);
      const presented = presentedCredential(request);
      if (presented !== undefined && rootToken !== null && !presented.startsWith('cs_')) {
        if (constantTimeEqual(presented, rootToken)) {
          await refund();
          request.log.info({ scope, credential: 'root' }, 'root admin token used');
          principals.set(request, { kind: 'root' });
          return;
        }
      }
      try {
        const key = await apiKeys.verify(presented ?? '', scope);
        await refund();
        onVerification?.('ok');
        principals.set(request, {
          kind: 'api-key',
          prefix: key.prefix,
          owner: key.owner,
          scopes: key.scopes,
        });
      } catch (error) {
        onVerification?.(verificationResult(error));
        if (error instanceof ApiKeyInvalidError) {
          request.log.info({ reason: error.reason }, 'service credential refused');
          reply.header('www-authenticate', 'Bearer realm="clawsession"');
          throw new HttpError('ERR_UNAUTHORIZED', 'a valid API key or admin token is required');
        }
        // A valid key out of scope or over its own rate limit is no guess.
        await refund();
        throw error;
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

import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { AnomalyDetector, Verdict } from '../anomaly/index.js';
import { type PatchOperation, patchPaths, type Session } from '../core/index.js';
import { HttpError, normalizeIp } from '../http/index.js';
import { sendRateLimited } from './fastify-defaults.js';

/** The session a request carries, as the guard needs it. */
export interface GuardedSession {
  id: string;
  userId: string;
  createdAt: number;
}

/**
 * The gateway's side of anomaly detection: feeds the detector what requests,
 * logins and patches show, and turns its verdicts into answers. A request on
 * a session that owes a step-up gets 401 ERR_STEP_UP_REQUIRED until the user
 * logs in again (a new session); one whose session was just revoked gets
 * 401 ERR_UNAUTHORIZED, as every later one does.
 *
 * When the detector's state cannot be read or written (a store fault), the
 * request goes on unchecked and the failure is logged: detection is a second
 * line of defence, and the session store it shares would refuse the request
 * anyway if it were down.
 */
export class AnomalyGuard {
  readonly detector: AnomalyDetector;
  readonly #absoluteTimeout: number;
  readonly #log: () => FastifyBaseLogger;

  constructor(
    detector: AnomalyDetector,
    options: { absoluteTimeout: number; log: () => FastifyBaseLogger },
  ) {
    this.detector = detector;
    this.#absoluteTimeout = options.absoluteTimeout;
    this.#log = options.log;
  }

  /** Checks one request that uses `session`; throws the 401 to answer with. */
  async checkRequest(request: FastifyRequest, session: GuardedSession): Promise<void> {
    const verdict = await this.#failOpen(request.log, () =>
      this.detector.observeRequest(this.#observation(request, session)),
    );
    refuseFor(verdict);
  }

  /** Sends a 429 and says true when logins from the request's address are refused (credential stuffing). */
  async refuseLogin(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const refusal = await this.#failOpen(request.log, () =>
      this.detector.loginRefusal(clientIp(request)),
    );
    if (refusal === null) return false;
    sendRateLimited(reply, {
      key: 'anomaly:credential-stuffing',
      allowed: false,
      limit: refusal.limit,
      remaining: 0,
      retryAfterMs: refusal.retryAfterMs,
      resetMs: refusal.retryAfterMs,
    });
    return true;
  }

  /** A login that failed for `account` (the normalised username). */
  async loginFailed(request: FastifyRequest, account: string): Promise<void> {
    await this.#failOpen(request.log, async () => {
      await this.detector.observeLoginFailure({ account, ip: clientIp(request) });
      return null;
    });
  }

  /** A login that made `session`; throws the 401 when a rule revoked it at once. */
  async loginSucceeded(request: FastifyRequest, session: GuardedSession): Promise<void> {
    const verdict = await this.#failOpen(request.log, () =>
      this.detector.observeLoginSuccess(this.#observation(request, session)),
    );
    if (verdict?.outcome === 'revoked') refuseFor(verdict);
  }

  /** A service's patch of a session: the watched fields. The patch itself stands. */
  async patched(request: FastifyRequest, session: Session, ops: readonly PatchOperation[]) {
    await this.#failOpen(request.log, () =>
      this.detector.observePatch({
        sessionId: session.id,
        userId: session.userId,
        data: session.data,
        paths: patchPaths(ops),
        sessionExpiresAt: session.absoluteExpiresAt,
      }),
    );
  }

  /** Told by the refresh tokens when a reused token ended its family and session. */
  refreshReused(reuse: { sessionId: string; userId: string }): void {
    this.detector.observeRefreshReuse(reuse).catch((error: unknown) => {
      this.#log().error(
        { err: error },
        'reporting a refresh-token reuse to anomaly detection failed',
      );
    });
  }

  #observation(request: FastifyRequest, session: GuardedSession) {
    return {
      sessionId: session.id,
      userId: session.userId,
      ip: normalizeIp(request.ip),
      userAgent: request.headers['user-agent'] ?? null,
      sessionExpiresAt: session.createdAt + this.#absoluteTimeout,
    };
  }

  async #failOpen<T>(log: FastifyBaseLogger, work: () => Promise<T>): Promise<T | null> {
    try {
      return await work();
    } catch (error) {
      log.error({ err: error }, 'anomaly detection failed; the request goes on unchecked');
      return null;
    }
  }
}

function refuseFor(verdict: Verdict | null): void {
  if (verdict?.outcome === 'step-up')
    throw new HttpError(
      'ERR_STEP_UP_REQUIRED',
      'this session was flagged as unusual: sign in again to go on',
    );
  if (verdict?.outcome === 'revoked')
    throw new HttpError('ERR_UNAUTHORIZED', 'this session was ended: it was flagged as unusual');
}

function clientIp(request: FastifyRequest): string {
  return normalizeIp(request.ip) ?? request.ip;
}

import { createHash, createHmac, randomBytes } from 'node:crypto';
import { constantTimeEqual, type SessionManager, ValidationError } from '../core/index.js';
import { RefreshTokenInvalidError, RefreshTokenReusedError } from './errors.js';
import type { RefreshFamily, RefreshFamilyStore } from './refresh-family-store.js';

export interface RefreshTokensOptions {
  store: RefreshFamilyStore;
  manager: SessionManager;
  /**
   * At least 32 bytes, from configuration. Successors are derived from the
   * secret they replace with this key, which is what lets a repeated use
   * inside the grace window get the same successor without storing it.
   */
  secret: Uint8Array | string;
  /** How long a family lives without being used, in ms. Default 30 days. */
  ttl?: number;
  /** How long a just-rotated token still yields the same successor, in ms. Default 10 seconds. */
  graceWindow?: number;
  clock?: () => number;
  /** Told when reuse of a rotated token revoked a family and its session. */
  onReuse?: (event: { familyId: string; sessionId: string; userId: string }) => void;
}

export interface IssuedRefreshToken {
  token: string;
  familyId: string;
  sessionId: string;
  userId: string;
  expiresAt: number;
}

const TOKEN_PATTERN = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
/**
 * How many rotations back a presented secret is traced to tell reuse from a
 * forgery. Each step is one HMAC, and a forged secret costs them all, so the
 * work per request stays bounded; a secret older than this is refused as
 * invalid without revoking anything.
 */
const MAX_REUSE_LOOKBACK = 1_000;

/**
 * Opaque refresh tokens (`<family id>.<secret>`), rotated on every use and
 * stored only as hashes. Using a token that was already rotated revokes its
 * whole family and the session (a stolen copy is in use), except within a
 * short grace window, where a racing second use (two tabs) gets the same
 * successor. A secret that never belonged to the family is only an invalid
 * token: knowing a family id is not enough to end it.
 */
export class RefreshTokens {
  readonly #options: RefreshTokensOptions;
  readonly #secret: Buffer;
  readonly #ttl: number;
  readonly #grace: number;
  readonly #clock: () => number;

  constructor(options: RefreshTokensOptions) {
    this.#options = options;
    this.#secret = Buffer.from(options.secret);
    if (this.#secret.length < 32)
      throw new ValidationError('the refresh-token secret must be at least 32 bytes');
    this.#ttl = options.ttl ?? 30 * 24 * 3_600_000;
    this.#grace = options.graceWindow ?? 10_000;
    this.#clock = options.clock ?? Date.now;
  }

  /** Starts a family for a live session (call it when the session is created or logs in). */
  async issue(session: { sessionId: string; userId: string }): Promise<IssuedRefreshToken> {
    const now = this.#clock();
    const familyId = randomBytes(16).toString('base64url');
    const secret = randomBytes(32).toString('base64url');
    const family: RefreshFamily = {
      id: familyId,
      sessionId: session.sessionId,
      userId: session.userId,
      generation: 0,
      currentHash: hash(secret),
      previousHash: null,
      rotatedAt: now,
      expiresAt: now + this.#ttl,
    };
    await this.#options.store.create(family);
    return { token: `${familyId}.${secret}`, familyId, ...session, expiresAt: family.expiresAt };
  }

  /**
   * Exchanges a refresh token for its successor. Throws
   * RefreshTokenInvalidError (the family, if any, lives on), or, for a secret
   * the family issued and rotated away, RefreshTokenReusedError after revoking
   * the family and its session.
   */
  async rotate(token: string): Promise<IssuedRefreshToken> {
    const match = typeof token === 'string' ? TOKEN_PATTERN.exec(token) : null;
    if (!match) throw new RefreshTokenInvalidError('refresh token is malformed');
    const [, familyId, secret] = match as unknown as [string, string, string];
    const presented = hash(secret);
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.#clock();
      const family = await this.#options.store.get(familyId, now);
      if (!family) throw new RefreshTokenInvalidError();
      if (!(await this.#options.manager.get({ id: family.sessionId }, { touch: false }))) {
        await this.#options.store.delete(familyId);
        throw new RefreshTokenInvalidError('the session of this refresh token has ended');
      }
      const successor = this.#successorOf(secret);
      const issued = {
        token: `${familyId}.${successor}`,
        familyId,
        sessionId: family.sessionId,
        userId: family.userId,
        expiresAt: family.expiresAt,
      };
      if (constantTimeEqual(presented, family.currentHash)) {
        const next = { currentHash: hash(successor), previousHash: presented, rotatedAt: now };
        if (await this.#options.store.advance(familyId, family.generation, next)) return issued;
        continue; // a concurrent use rotated it first: look again, it is now the previous secret
      }
      const racingUse =
        family.previousHash !== null &&
        constantTimeEqual(presented, family.previousHash) &&
        now - family.rotatedAt <= this.#grace &&
        constantTimeEqual(hash(successor), family.currentHash);
      if (racingUse) return issued;
      if (this.#isEarlierSecret(secret, presented, family)) await this.#revokeForReuse(family);
      throw new RefreshTokenInvalidError();
    }
    throw new RefreshTokenInvalidError('refresh token is being rotated concurrently; retry');
  }

  /** Ends a family (logout). */
  async revokeFamily(familyId: string): Promise<boolean> {
    return this.#options.store.delete(familyId);
  }

  async #revokeForReuse(family: RefreshFamily): Promise<never> {
    await this.#options.store.delete(family.id);
    await this.#options.manager.revoke({ id: family.sessionId });
    this.#options.onReuse?.({
      familyId: family.id,
      sessionId: family.sessionId,
      userId: family.userId,
    });
    throw new RefreshTokenReusedError();
  }

  /**
   * Whether the family once issued `secret`: it is the secret the current one
   * replaced, or its chain of successors reaches the current secret. Each
   * successor is the HMAC of the secret before it, so the chain is the proof.
   */
  #isEarlierSecret(secret: string, presentedHash: string, family: RefreshFamily): boolean {
    if (family.previousHash !== null && constantTimeEqual(presentedHash, family.previousHash))
      return true;
    let successor = secret;
    for (let step = 0; step < Math.min(family.generation, MAX_REUSE_LOOKBACK); step++) {
      successor = this.#successorOf(successor);
      if (constantTimeEqual(hash(successor), family.currentHash)) return true;
    }
    return false;
  }

  #successorOf(secret: string): string {
    return createHmac('sha256', this.#secret).update(secret).digest('base64url');
  }
}

function hash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
